import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { addAbortSignal } from 'node:stream';
import { fromBinary, type Message, toBinary } from '@bufbuild/protobuf';
import {
  abortError,
  type CallContext,
  completable,
  ErrorCode,
  InvalidArgumentError,
  isMeshError,
  MeshError,
  markCancelsPromptly,
  type Service,
  type TimerHandle,
} from '@meshkit/core';
import { checkNumber, tlsFailure } from '@meshkit/core/internal';
import { GrpcStatusError } from '../errors.ts';
import { FrameDecoder, frame } from '../wire/framing.ts';
import {
  type ReceivedMetadata,
  readMetadata,
  textValue,
  writeContextMetadata,
  writeMetadata,
} from '../wire/metadata.ts';
import { decodeGrpcMessage, parseStatus, Status } from '../wire/status.ts';
import { encodeGrpcTimeout } from '../wire/timeout.ts';
import { Connection, type GrpcClientTlsOptions } from './connection.ts';
import type { GrpcRequest, GrpcResponse, GrpcStreamResponse } from './types.ts';

/** Options of {@link grpcTransport}. */
export interface GrpcTransportOptions {
  /** TLS (and mutual TLS) for the connection; without it, cleartext HTTP/2. */
  readonly tls?: GrpcClientTlsOptions;
  /** How long opening the connection may take, in ms. Defaults to 5,000. */
  readonly connectTimeoutMs?: number;
  /** Largest response message accepted, in bytes; a larger one fails the call with `RESOURCE_EXHAUSTED`. Defaults to 4 MiB. */
  readonly maxReceiveMessageBytes?: number;
  /**
   * Server-stream messages buffered before the transport stops reading from the socket (HTTP/2 flow
   * control then holds the server back). Defaults to 16.
   */
  readonly streamBufferMessages?: number;
}

/** A transport for one endpoint: a {@link Service} with a `close()`. */
export type GrpcTransport = Service<GrpcRequest, GrpcResponse> & {
  /** The endpoint's `scheme://host:port`. */
  readonly authority: string;
  /** Closes the connection gracefully (running calls finish). */
  close(): Promise<void>;
};

/**
 * A {@link Service} that makes gRPC calls to one endpoint over one HTTP/2 connection (`node:http2`).
 *
 * - The context's deadline goes out as `grpc-timeout` and is enforced locally too: at the deadline the
 *   stream is cancelled and the call fails with `ERR_DEADLINE_EXCEEDED` (status `DEADLINE_EXCEEDED`),
 *   for a server stream also after its first message.
 * - Cancelling the context resets the stream (the server's handler sees it) and rejects at once.
 * - The context's metadata (`traceparent`, request id) and the request's go out as gRPC metadata.
 * - Failures: a non-OK status is a {@link GrpcStatusError}; a connection that could not be opened is
 *   `ERR_CONNECT` (`rejected`: never sent); a stream the server refused (`REFUSED_STREAM`, GOAWAY) is
 *   `UNAVAILABLE` with `rejected`; a connection lost mid-call is `UNAVAILABLE` without it.
 * - A server stream resolves at its response headers; its completion (see `whenComplete`) fires when
 *   reading ends.
 *
 * @example
 * ```ts
 * import { create } from '@bufbuild/protobuf';
 * import { createContext } from '@meshkit/core';
 *
 * const users = grpcTransport('127.0.0.1:50051');
 * const request = { method: UserService.method.getUser, message: create(GetUserRequestSchema, { id: '42' }) };
 * const res = await users(request, createContext({ timeoutMs: 500 }));
 * if (res.kind === 'unary') console.log(res.message, res.trailer);
 * ```
 */
export function grpcTransport(address: string, options: GrpcTransportOptions = {}): GrpcTransport {
  const connection = new Connection(
    address,
    options.tls,
    checkNumber('grpcTransport.connectTimeoutMs', options.connectTimeoutMs ?? 5_000, 1),
  );
  const limits: Limits = {
    maxReceiveMessageBytes: checkNumber(
      'grpcTransport.maxReceiveMessageBytes',
      options.maxReceiveMessageBytes ?? 4 * 1024 * 1024,
      0,
    ),
    streamBufferMessages: checkNumber(
      'grpcTransport.streamBufferMessages',
      options.streamBufferMessages ?? 16,
      1,
    ),
  };
  const service = ((req: GrpcRequest, ctx: CallContext): Promise<GrpcResponse> => {
    try {
      return new ClientCall(connection, limits, req, ctx).promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }) as GrpcTransport;
  Object.defineProperties(service, {
    authority: { value: connection.authority },
    close: { value: () => connection.close() },
  });
  return markCancelsPromptly(service);
}

interface Limits {
  readonly maxReceiveMessageBytes: number;
  readonly streamBufferMessages: number;
}

const userAgent = 'meshkit-grpc/0.1';

interface TrailerSettle {
  resolve(metadata: ReceivedMetadata): void;
  reject(error: unknown): void;
}

/** One call on one stream: sends the request, reads the response, settles the caller. */
class ClientCall {
  readonly promise: Promise<GrpcResponse>;
  readonly #connection: Connection;
  readonly #limits: Limits;
  readonly #req: GrpcRequest;
  readonly #ctx: CallContext;
  readonly #session: ClientHttp2Session;
  readonly #stream: ClientHttp2Stream;
  readonly #decoder: FrameDecoder;
  #resolve!: (value: GrpcResponse) => void;
  #reject!: (error: unknown) => void;
  #settled = false;
  #ended = false;
  #header: ReceivedMetadata = {};
  #messages: Message[] = [];
  #error: unknown;
  #wake: (() => void) | undefined;
  #timer: TimerHandle | undefined;
  #unregister: (() => void) | undefined;
  #complete: ((error?: unknown) => void) | undefined;
  #trailerSettle: TrailerSettle | undefined;
  /** Whether responses stream (server and bidi streaming). */
  readonly #responseStreaming: boolean;
  /** The request messages' iterator, once sending them started (client and bidi streaming). */
  #source: AsyncIterator<Message> | undefined;
  /** Request messages read from the caller's iterable so far. */
  #pulled = 0;

  constructor(connection: Connection, limits: Limits, req: GrpcRequest, ctx: CallContext) {
    this.#connection = connection;
    this.#limits = limits;
    this.#req = req;
    this.#ctx = ctx;
    this.#decoder = new FrameDecoder(limits.maxReceiveMessageBytes);
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (connection.closed)
      throw new MeshError(ErrorCode.CLOSED, `the transport to ${connection.authority} was closed`);
    if (ctx.aborted) throw cancelled(ctx);
    const method = req.method;
    const kind = method.methodKind;
    const requestStreaming = kind === 'client_streaming' || kind === 'bidi_streaming';
    this.#responseStreaming = kind === 'server_streaming' || kind === 'bidi_streaming';
    let body: Uint8Array | undefined;
    if (requestStreaming) {
      if (req.messages === undefined || typeof req.messages[Symbol.asyncIterator] !== 'function') {
        throw new InvalidArgumentError(
          'GrpcRequest.messages',
          `must be an async iterable for ${kind} method ${method.name}`,
          req.messages,
        );
      }
    } else {
      if (req.message === undefined) {
        throw new InvalidArgumentError('GrpcRequest.message', `is required for method ${method.name}`);
      }
      body = frame(toBinary(method.input, req.message));
    }
    const headers: OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': `/${method.parent.typeName}/${method.name}`,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-accept-encoding': 'identity',
      'user-agent': userAgent,
    };
    writeContextMetadata(headers, ctx.metadata);
    if (req.metadata !== undefined) writeMetadata(headers, req.metadata, 'metadata');
    const remaining = ctx.remainingMs();
    if (remaining !== Infinity) {
      if (remaining <= 0) {
        throw new GrpcStatusError(Status.DEADLINE_EXCEEDED, 'deadline passed before sending', {
          rejected: true,
        });
      }
      headers['grpc-timeout'] = encodeGrpcTimeout(remaining);
    }
    const session = connection.session();
    this.#session = session;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch (error) {
      // The session went away between our check and the request (GOAWAY, closing): nothing was sent.
      throw new GrpcStatusError(Status.UNAVAILABLE, `no stream to ${connection.authority}`, {
        cause: error,
        rejected: true,
      });
    }
    this.#stream = stream;
    connection.acquire(session);
    stream.on('response', (h) => this.#onResponse(h));
    stream.on('trailers', (h) => this.#onStatus(h));
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('error', (error) => this.#fail(this.#streamError(error)));
    stream.on('close', () => this.#onClose());
    if (body !== undefined) stream.end(body);
    // Request messages are read only once the stream is open: a call refused before that read nothing,
    // so it can be retried with the same iterable.
    else if (stream.pending) stream.once('ready', () => void this.#send(req.messages!));
    else void this.#send(req.messages!);
    if (remaining !== Infinity) {
      this.#timer = ctx.clock.setTimeout(() => {
        this.#cancel(new GrpcStatusError(Status.DEADLINE_EXCEEDED, 'deadline exceeded'));
      }, remaining);
    }
    if (ctx.cancellable) this.#unregister = ctx.onAbort(() => this.#cancel(cancelled(ctx)));
  }

  #onResponse(headers: IncomingHttpHeaders): void {
    const httpStatus = Number(headers[':status']);
    if (httpStatus !== 200) {
      this.#fail(new GrpcStatusError(statusFromHttp(httpStatus), `HTTP status ${httpStatus}`));
      reset(this.#stream);
      return;
    }
    if (headers['grpc-status'] !== undefined) {
      // Trailers-only: the status came with the headers.
      this.#onStatus(headers);
      return;
    }
    const contentType = textValue(headers, 'content-type') ?? '';
    if (!contentType.startsWith('application/grpc')) {
      this.#fail(new GrpcStatusError(Status.UNKNOWN, `unexpected content-type ${contentType}`));
      reset(this.#stream);
      return;
    }
    this.#header = readMetadata(headers);
    if (this.#responseStreaming) this.#resolveStream();
  }

  /**
   * Sends the request messages as fast as the stream takes them: the next one is read from the caller's
   * iterable only after the previous one was accepted (once HTTP/2 flow control and the stream's buffer
   * are full, `write()` says so and we wait for `drain`). Half-closes when the iterable ends; stops
   * reading, and lets the iterable clean up, when the call ends first.
   */
  async #send(messages: AsyncIterable<Message>): Promise<void> {
    if (this.#ended) return;
    const stream = this.#stream;
    const input = this.#req.method.input;
    let source: AsyncIterator<Message>;
    try {
      source = messages[Symbol.asyncIterator]();
      this.#source = source;
      for (;;) {
        const next = await source.next();
        if (this.#ended) return;
        if (next.done === true) {
          stream.end();
          return;
        }
        this.#pulled++;
        if (!stream.write(frame(toBinary(input, next.value)))) {
          await drained(stream);
          if (this.#ended) return;
        }
      }
    } catch (error) {
      // The caller's iterable failed (or yielded something that is not the message): cancel the call.
      this.#source = undefined;
      this.#cancel(error);
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#ended) return;
    const out = this.#decoder.push(chunk);
    if (typeof out === 'string') {
      this.#cancel(
        out === 'too-large'
          ? new GrpcStatusError(
              Status.RESOURCE_EXHAUSTED,
              `response message larger than ${this.#limits.maxReceiveMessageBytes} bytes`,
            )
          : new GrpcStatusError(Status.INTERNAL, 'compressed message without grpc-encoding'),
      );
      return;
    }
    const output = this.#req.method.output;
    for (const bytes of out) {
      try {
        this.#messages.push(fromBinary(output, bytes));
      } catch (error) {
        this.#cancel(new GrpcStatusError(Status.INTERNAL, 'could not parse the response', { cause: error }));
        return;
      }
    }
    if (this.#responseStreaming) {
      if (this.#messages.length >= this.#limits.streamBufferMessages) this.#stream.pause();
      this.#wake?.();
    } else if (this.#messages.length > 1) {
      this.#cancel(new GrpcStatusError(Status.INTERNAL, 'more than one response message'));
    }
  }

  #onStatus(headers: IncomingHttpHeaders): void {
    if (this.#ended) return;
    const status = parseStatus(textValue(headers, 'grpc-status'));
    const trailer = readMetadata(headers);
    if (status !== Status.OK) {
      this.#end(
        new GrpcStatusError(status, decodeGrpcMessage(textValue(headers, 'grpc-message')), {
          metadata: trailer,
        }),
      );
      return;
    }
    if (!this.#responseStreaming) {
      const message = this.#messages[0];
      if (message === undefined || this.#decoder.pendingBytes > 0) {
        this.#end(new GrpcStatusError(Status.INTERNAL, 'OK status without a response message'));
        return;
      }
      this.#settle();
      this.#resolve({ kind: 'unary', message, header: this.#header, trailer });
      this.#end(undefined);
      return;
    }
    // A trailers-only OK stream: no messages; the response is the headers we never got separately.
    this.#resolveStream();
    this.#trailerSettle?.resolve(trailer);
    this.#end(undefined);
  }

  #onClose(): void {
    this.#connection.release(this.#session);
    if (!this.#ended) {
      const code = this.#stream.rstCode;
      this.#end(
        code === constants.NGHTTP2_REFUSED_STREAM
          ? new GrpcStatusError(Status.UNAVAILABLE, 'the server refused the stream', { rejected: true })
          : code === constants.NGHTTP2_NO_ERROR
            ? // The peer ended the stream cleanly but sent no status: a protocol error, not an outage.
              new GrpcStatusError(Status.INTERNAL, 'the stream ended without a status')
            : new GrpcStatusError(Status.UNAVAILABLE, `the stream was reset (HTTP/2 code ${code})`),
      );
    }
  }

  #resolveStream(): void {
    if (this.#settled) return;
    this.#settle();
    let trailerSettle: TrailerSettle | undefined;
    const trailer = new Promise<ReceivedMetadata>((resolve, reject) => {
      trailerSettle = { resolve, reject };
    });
    // Unobserved trailers must not surface as an unhandled rejection; the iterator throws the error.
    trailer.catch(() => {});
    this.#trailerSettle = trailerSettle;
    const response: GrpcStreamResponse = {
      kind: this.#req.method.methodKind === 'bidi_streaming' ? 'bidi' : 'server-stream',
      header: this.#header,
      trailer,
      messages: { [Symbol.asyncIterator]: () => this.#iterator() },
    };
    const completion = completable(response);
    this.#complete = (error) => completion.complete(error);
    this.#resolve(response);
  }

  #iterator(): AsyncIterator<Message> {
    return {
      next: async (): Promise<IteratorResult<Message>> => {
        for (;;) {
          const message = this.#messages.shift();
          if (message !== undefined) {
            if (this.#messages.length < this.#limits.streamBufferMessages && this.#stream.isPaused()) {
              this.#stream.resume();
            }
            return { value: message, done: false };
          }
          if (this.#ended) {
            if (this.#error !== undefined) throw this.#error;
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
          this.#wake = undefined;
        }
      },
      return: async (): Promise<IteratorResult<Message>> => {
        // The caller stopped reading: cancel the stream on the server.
        if (!this.#ended) this.#cancel(abortError('the caller stopped reading the stream'), false);
        this.#messages = [];
        return { value: undefined, done: true };
      },
    };
  }

  #settle(): void {
    this.#settled = true;
  }

  #fail(error: unknown): void {
    if (!this.#ended) this.#end(error);
  }

  /** Ends the call locally: resets the stream, then ends with `error`. */
  #cancel(error: unknown, surface = true): void {
    if (this.#ended) return;
    reset(this.#stream);
    this.#end(error, surface);
  }

  #end(error: unknown, surface = true): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#pulled > 0) error = consumed(error);
    const source = this.#source;
    if (source !== undefined) {
      this.#source = undefined;
      // Still sending when the call ended (a status before half-close, a cancel): stop, and let the
      // caller's iterable run its cleanup. Errors it throws there belong to nobody.
      if (!this.#stream.writableEnded) reset(this.#stream);
      source.return?.()?.then(undefined, () => {});
    }
    if (this.#timer !== undefined) this.#ctx.clock.clearTimeout(this.#timer);
    this.#unregister?.();
    if (surface) this.#error = error;
    if (error !== undefined) {
      this.#trailerSettle?.reject(error);
      if (!this.#settled) {
        this.#settled = true;
        this.#reject(error);
      }
    }
    this.#wake?.();
    this.#complete?.(error);
  }

  #streamError(error: unknown): unknown {
    if (this.#ctx.aborted) return cancelled(this.#ctx);
    if (isMeshError(error)) return error;
    const code = (error as { code?: string }).code ?? '';
    // A refused client certificate arrives as a TLS alert after the connection counted as made.
    const tls = tlsFailure(code, this.#connection.authority, error);
    if (tls !== undefined) return tls;
    if (!this.#connection.connected(this.#session)) {
      return new MeshError(ErrorCode.CONNECT, `cannot connect to ${this.#connection.authority} (${code})`, {
        cause: error,
        retryable: true,
        rejected: true,
        details: { address: this.#connection.authority, cause: code },
      });
    }
    if (code === 'ERR_HTTP2_GOAWAY_SESSION' || /REFUSED_STREAM/.test(String((error as Error).message))) {
      return new GrpcStatusError(Status.UNAVAILABLE, 'the server refused the stream', {
        cause: error,
        rejected: true,
      });
    }
    return new GrpcStatusError(
      Status.UNAVAILABLE,
      `connection to ${this.#connection.authority} failed (${code})`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Cancels `stream` with RST_STREAM(CANCEL). While the request side is still open (a client or bidi
 * stream mid-way), `stream.close()` would half-close it first (END_STREAM, then the reset in a later
 * write), and the server could take the request stream for complete before it sees the cancel: destroying
 * the stream through an aborted signal sends the reset alone (Node maps its `AbortError` to `CANCEL`).
 */
function reset(stream: ClientHttp2Stream): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.writableEnded) stream.close(constants.NGHTTP2_CANCEL);
  else addAbortSignal(AbortSignal.abort(), stream);
}

/** Resolves when `stream` can take more data, or closed. */
function drained(stream: ClientHttp2Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/**
 * A failure after request messages were read from the caller's iterable: those are gone, so the call
 * cannot be sent again, whatever the failure says about the server (it is not `rejected`).
 */
function consumed(error: unknown): unknown {
  if (!isMeshError(error) || !(error.rejected || error.code === ErrorCode.CONNECT)) return error;
  return new GrpcStatusError(Status.UNAVAILABLE, `${error.message} (after request messages were sent)`, {
    cause: error,
  });
}

function cancelled(ctx: CallContext): unknown {
  const reason = ctx.abortReason;
  return isMeshError(reason) ? reason : abortError(reason);
}

/** The status for a non-200 HTTP response, as the gRPC spec maps them. */
function statusFromHttp(code: number): Status {
  switch (code) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}
