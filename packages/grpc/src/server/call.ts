import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import {
  create,
  type DescMessage,
  type DescMethod,
  fromBinary,
  isMessage,
  toBinary,
} from '@bufbuild/protobuf';
import {
  abortError,
  type CallContext,
  type Clock,
  createContext,
  ErrorCode,
  exchangeChannels,
  InvalidArgumentError,
  MeshError,
  type Metadata,
  type ServerRequestEvent,
  serverRequestsObserved,
  type TimerHandle,
} from '@meshkit/core';
import { badRequest } from '../details.ts';
import { GrpcStatusError, statusOf } from '../errors.ts';
import { FrameDecoder, frame } from '../wire/framing.ts';
import { type ReceivedMetadata, readMetadata, writeMetadata } from '../wire/metadata.ts';
import { encodeGrpcMessage, Status } from '../wire/status.ts';
import { parseGrpcTimeout } from '../wire/timeout.ts';
import type { ServerCall } from './types.ts';

/** A registered method and the handler that serves it. */
export interface Route {
  readonly method: DescMethod;
  readonly handler: (request: never, call: ServerCall) => unknown;
}

/** Limits and clock shared by every call of a server. */
export interface CallSettings {
  readonly maxReceiveMessageBytes: number;
  readonly maxSendMessageBytes: number;
  readonly clock: Clock;
  /** The serving service's name, for observers. */
  readonly service: string;
  /** Called once when a call's stream closed, whatever the outcome (the server's in-flight set). */
  readonly onDone: (call: ServerCallState) => void;
}

/** Request metadata a server copies into the handler's context, so it travels on to the next hop. */
const propagatedKeys = ['traceparent', 'tracestate', 'x-request-id'] as const;

function propagatedMetadata(headers: IncomingHttpHeaders): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const key of propagatedKeys) {
    const value = headers[key];
    if (typeof value !== 'string') continue;
    out ??= {};
    out[key] = value;
  }
  return out;
}

const grpcContentType = /^application\/grpc(\+proto)?(;.*)?$/;

/**
 * Serves one HTTP/2 stream as a gRPC call: validates the request headers, reads the one request message,
 * runs the handler under the client's deadline and cancellation, writes the response with flow control,
 * and ends with the status in the trailers (or a trailers-only response when nothing was sent).
 */
export class ServerCallState implements ServerCall {
  readonly ctx: CallContext;
  readonly metadata: ReceivedMetadata;
  readonly method: string;
  readonly peer: string;
  readonly #stream: ServerHttp2Stream;
  readonly #settings: CallSettings;
  readonly #controller = new AbortController();
  #headerMetadata: OutgoingHttpHeaders = {};
  #trailerMetadata: OutgoingHttpHeaders = {};
  #headersSent = false;
  #done = false;
  #timer: TimerHandle | undefined;
  #drain: (() => void) | undefined;
  #wakeReader: (() => void) | undefined;
  /** The observed request, when anyone listened as it arrived. */
  readonly #observed: { readonly event: ServerRequestEvent; readonly start: number } | undefined;
  #reported = false;

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, settings: CallSettings) {
    this.#stream = stream;
    this.#settings = settings;
    this.method = String(headers[':path'] ?? '');
    this.metadata = readMetadata(headers);
    const socket = stream.session?.socket;
    this.peer = `${socket?.remoteAddress ?? ''}:${socket?.remotePort ?? ''}`;
    const timeoutMs = parseGrpcTimeout(headers['grpc-timeout'] as string | undefined);
    const clock = settings.clock;
    let propagated = propagatedMetadata(headers);
    if (serverRequestsObserved()) {
      const event: ServerRequestEvent = {
        protocol: 'grpc',
        service: settings.service,
        method: this.method.startsWith('/') ? this.method.slice(1) : this.method,
        route: this.method,
        requestId: propagated?.['x-request-id'],
        metadata: { ...propagated },
        durationMs: Number.NaN,
      };
      if (exchangeChannels.serverRequestStart.hasSubscribers)
        exchangeChannels.serverRequestStart.publish(event);
      propagated = event.metadata;
      this.#observed = { event, start: clock.now() };
    }
    this.ctx = createContext({
      clock,
      signal: this.#controller.signal,
      ...(timeoutMs === undefined ? {} : { deadline: clock.now() + timeoutMs }),
      ...(propagated === undefined ? {} : { metadata: propagated }),
    });
    if (timeoutMs !== undefined) {
      this.#timer = clock.setTimeout(() => this.#expire(), timeoutMs);
    }
    stream.on('close', () => {
      this.#drain?.();
      if (!this.#done)
        this.#end(abortError(new MeshError(ErrorCode.CLOSED, 'the client cancelled the call')));
      // Only now is the status flushed (or the stream reset): the server's shutdown waits for this.
      settings.onDone(this);
    });
    // A reset or broken connection surfaces as 'close'; the error itself needs no handling.
    stream.on('error', () => {});
  }

  /** `true` once the status was sent (or the stream closed). */
  get done(): boolean {
    return this.#done;
  }

  sendHeader(metadata: Metadata): void {
    if (this.#headersSent || this.#done) return;
    writeMetadata(this.#headerMetadata, metadata, 'sendHeader');
  }

  setTrailer(metadata: Metadata): void {
    if (this.#done) return;
    writeMetadata(this.#trailerMetadata, metadata, 'setTrailer');
  }

  /** Validates the request headers and runs `route` (or answers the status that refuses it). */
  run(headers: IncomingHttpHeaders, route: Route | undefined): void {
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !grpcContentType.test(contentType)) {
      this.#done = true;
      this.#stream.respond({ ':status': 415 }, { endStream: true });
      this.#end(undefined, Status.UNKNOWN);
      return;
    }
    if (route === undefined) {
      this.finish(Status.UNIMPLEMENTED, `unknown method ${this.method}`);
      return;
    }
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      this.finish(Status.UNIMPLEMENTED, `compression ${String(encoding)} is not supported`);
      return;
    }
    const kind = route.method.methodKind;
    if (kind === 'client_streaming' || kind === 'bidi_streaming') {
      const requests = this.#requestStream(route.method.input);
      if (kind === 'client_streaming') this.#runUnary(route, requests);
      else this.#runStreaming(route, requests);
      return;
    }
    this.#readRequest(route.method.input, (request) => {
      if (kind === 'unary') this.#runUnary(route, request);
      else this.#runStreaming(route, request);
    });
  }

  /** Ends the call with `status`; a no-op once it ended. */
  finish(status: Status, message = ''): void {
    if (this.#done) return;
    this.#done = true;
    const stream = this.#stream;
    if (!stream.destroyed && !stream.closed) {
      const trailers: OutgoingHttpHeaders = {
        ...this.#trailerMetadata,
        'grpc-status': String(status),
        ...(message === '' ? {} : { 'grpc-message': encodeGrpcMessage(message) }),
      };
      if (!this.#headersSent) {
        this.#headersSent = true;
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', ...this.#headerMetadata, ...trailers },
          { endStream: true },
        );
      } else {
        stream.once('wantTrailers', () => stream.sendTrailers(trailers));
        stream.end();
      }
    }
    this.#end(status === Status.OK ? undefined : new GrpcStatusError(status, message), status);
  }

  /** Ends the call with `UNAVAILABLE` and cancels its handler: the server's shutdown grace ran out. */
  abandon(): void {
    this.finish(Status.UNAVAILABLE, 'the server is shutting down');
    if (!this.#controller.signal.aborted) {
      this.#controller.abort(new MeshError(ErrorCode.CLOSED, 'the server is shutting down'));
    }
  }

  #end(reason: unknown, status?: Status): void {
    const observed = this.#observed;
    if (observed !== undefined && !this.#reported && exchangeChannels.serverRequestEnd.hasSubscribers) {
      this.#reported = true;
      const { event, start } = observed;
      event.durationMs = this.#settings.clock.now() - start;
      // A call that ended without a status was cancelled by its client.
      event.status = status ?? Status.CANCELLED;
      if (reason !== undefined) event.error = reason;
      exchangeChannels.serverRequestEnd.publish(event);
    }
    this.#done = true;
    if (this.#timer !== undefined) this.#settings.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#drain?.();
    this.#wakeReader?.();
    if (reason !== undefined && !this.#controller.signal.aborted) this.#controller.abort(reason);
  }

  #expire(): void {
    this.#timer = undefined;
    if (this.#done) return;
    this.finish(Status.DEADLINE_EXCEEDED, 'deadline exceeded');
  }

  #fail(error: unknown): void {
    const { status, message } = statusOf(error);
    if (error instanceof GrpcStatusError) this.#setTrailerSafe(error.metadata as Metadata);
    else if (error instanceof InvalidArgumentError) {
      // Bad input names its field in a google.rpc.BadRequest detail, not only in the message.
      const detail = badRequest([{ field: error.field, description: error.message }], message);
      this.#setTrailerSafe(detail.metadata as Metadata);
    }
    this.finish(status, message);
  }

  #setTrailerSafe(metadata: Metadata): void {
    try {
      this.setTrailer(metadata);
    } catch {
      // Received metadata re-thrown by a handler may hold keys we refuse to send; the status still goes out.
    }
  }

  #readRequest(input: DescMessage, then: (request: unknown) => void): void {
    const decoder = new FrameDecoder(this.#settings.maxReceiveMessageBytes);
    const messages: Uint8Array[] = [];
    const stream = this.#stream;
    stream.on('data', (chunk: Buffer) => {
      if (this.#done) return;
      const out = decoder.push(chunk);
      if (out === 'too-large') {
        this.finish(
          Status.RESOURCE_EXHAUSTED,
          `request message larger than ${this.#settings.maxReceiveMessageBytes} bytes`,
        );
      } else if (out === 'compressed') {
        this.finish(Status.UNIMPLEMENTED, 'compressed messages are not supported');
      } else {
        messages.push(...out);
        // One request message is all a unary or server-streaming call takes: refuse a second at once
        // rather than buffer whatever else a client sends.
        if (messages.length > 1) this.finish(Status.INTERNAL, 'more than one request message');
      }
    });
    stream.on('end', () => {
      if (this.#done) return;
      if (messages.length !== 1 || decoder.pendingBytes > 0) {
        this.finish(Status.INTERNAL, `expected one request message, got ${messages.length}`);
        return;
      }
      let request: unknown;
      try {
        request = fromBinary(input, messages[0]!);
      } catch (error) {
        this.finish(Status.INTERNAL, `could not parse the request: ${(error as Error).message}`);
        return;
      }
      then(request);
    });
  }

  /**
   * The request messages of a client- or bidi-streaming call, as they arrive. Past `bufferMessages`
   * unread ones the stream is paused, so HTTP/2 flow control holds the client back. Ends when the client
   * half-closes, or when the call ended (cancelled, deadline).
   */
  #requestStream(input: DescMessage, bufferMessages = 16): AsyncIterable<unknown> {
    const decoder = new FrameDecoder(this.#settings.maxReceiveMessageBytes);
    const stream = this.#stream;
    const queue: unknown[] = [];
    let ended = false;
    const wake = (): void => this.#wakeReader?.();
    stream.on('data', (chunk: Buffer) => {
      if (this.#done) return;
      const out = decoder.push(chunk);
      if (out === 'too-large' || out === 'compressed') {
        this.finish(
          out === 'too-large' ? Status.RESOURCE_EXHAUSTED : Status.UNIMPLEMENTED,
          out === 'too-large'
            ? `request message larger than ${this.#settings.maxReceiveMessageBytes} bytes`
            : 'compressed messages are not supported',
        );
        return;
      }
      for (const bytes of out) {
        try {
          queue.push(fromBinary(input, bytes));
        } catch (error) {
          this.finish(Status.INTERNAL, `could not parse a request message: ${(error as Error).message}`);
          return;
        }
      }
      if (queue.length >= bufferMessages) stream.pause();
      wake();
    });
    stream.on('end', () => {
      // Reset by the client (RST_STREAM before any END_STREAM, as meshkit's client cancels): the 'close'
      // that follows ends the call as cancelled; the request must not look complete meanwhile.
      if (stream.aborted) return;
      // A client that cancels with Node's `stream.close()` (grpc-js does) half-closes first, then resets:
      // wait a turn, so a reset that arrives with the half-close is seen as a cancel. One that arrives
      // later finds the handler past the end of its requests; its context is aborted then.
      setImmediate(() => {
        ended = true;
        if (!this.#done && decoder.pendingBytes > 0) {
          this.finish(Status.INTERNAL, 'the request ended inside a message');
        }
        wake();
      });
    });
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<unknown>> => {
          for (;;) {
            if (queue.length > 0) {
              const value = queue.shift();
              if (stream.isPaused() && queue.length < bufferMessages) stream.resume();
              return { value, done: false };
            }
            // Cancelled or out of time: the handler must not take a cut-off request for a whole one.
            if (this.ctx.aborted) throw this.ctx.abortReason;
            if (ended || this.#done) return { value: undefined, done: true };
            await new Promise<void>((resolve) => {
              this.#wakeReader = resolve;
            });
            this.#wakeReader = undefined;
          }
        },
      }),
    };
  }

  #encode(output: DescMessage, value: unknown): Buffer | undefined {
    let bytes: Uint8Array;
    try {
      const message = isMessage(value, output) ? value : create(output, value as never);
      bytes = toBinary(output, message);
    } catch (error) {
      this.finish(Status.INTERNAL, `could not serialize the response: ${(error as Error).message}`);
      return undefined;
    }
    if (bytes.length > this.#settings.maxSendMessageBytes) {
      this.finish(
        Status.RESOURCE_EXHAUSTED,
        `response message larger than ${this.#settings.maxSendMessageBytes} bytes`,
      );
      return undefined;
    }
    return frame(bytes);
  }

  #respondHeaders(): void {
    if (this.#headersSent) return;
    this.#headersSent = true;
    this.#stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-accept-encoding': 'identity',
        ...this.#headerMetadata,
      },
      { waitForTrailers: true },
    );
  }

  #runUnary(route: Route, request: unknown): void {
    const output = route.method.output;
    new Promise((resolve) => resolve(route.handler(request as never, this))).then(
      (response) => {
        if (this.#done) return;
        const framed = this.#encode(output, response);
        if (framed === undefined) return;
        this.#respondHeaders();
        this.#stream.write(framed);
        this.finish(Status.OK);
      },
      (error: unknown) => this.#fail(error),
    );
  }

  #runStreaming(route: Route, request: unknown): void {
    void this.#pump(route.method.output, route, request);
  }

  async #pump(output: DescMessage, route: Route, request: unknown): Promise<void> {
    let iterator: AsyncIterator<unknown> | undefined;
    try {
      const iterable = route.handler(request as never, this) as AsyncIterable<unknown>;
      iterator = iterable[Symbol.asyncIterator]();
      for (;;) {
        const next = await iterator.next();
        if (this.#done) break;
        if (next.done === true) {
          iterator = undefined;
          break;
        }
        const framed = this.#encode(output, next.value);
        if (framed === undefined) break;
        this.#respondHeaders();
        // Past the stream's buffer (its high-water mark) and the client's flow-control window, wait:
        // the iterable is not pulled again until the client has read.
        if (!this.#stream.write(framed)) await this.#drained();
        if (this.#done) break;
      }
      this.finish(Status.OK);
    } catch (error) {
      iterator = undefined;
      this.#fail(error);
    } finally {
      // Stopped early (cancelled, deadline, a message that could not be sent): let the producer clean up.
      if (iterator?.return !== undefined) iterator.return().catch(() => {});
    }
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.#drain = undefined;
        this.#stream.off('drain', done);
        resolve();
      };
      this.#drain = done;
      this.#stream.once('drain', done);
    });
  }
}
