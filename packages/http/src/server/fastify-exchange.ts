import type { IncomingMessage } from 'node:http';
import type { CallContext } from '@meshkit/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readTimeoutMs } from '../wire.ts';
import type { HttpCall, HttpCallService, HttpReply } from './call.ts';
import { errorResponse } from './problem.ts';
import { encodeResponse } from './respond.ts';

// Fastify runs a request through hooks, its own body parsing and the route handler; the kit's layers run
// as one Service call across them. The exchange is that call's state: it starts in `onRequest`, gets the
// parsed body in `preHandler`, lets the route handler run when the layers reach the innermost service,
// and gets the handler's reply in `onSend`.
const exchanges = new WeakMap<IncomingMessage, FastifyExchange>();

/** One request's run through the layers under Fastify. */
export class FastifyExchange {
  readonly call: HttpCall;
  /** What the layers answered; settles once, whether or not the handler ran. */
  readonly result: Promise<HttpReply>;
  #reply: HttpReply | undefined;
  #ctx: CallContext | undefined;
  /** `true` once a hook answered with the layers' reply (no handler). */
  answered = false;
  readonly #body = deferred<Buffer>();
  readonly #bodyWanted = deferred<void>();
  readonly #entered = deferred<void>();
  readonly #handlerReply = deferred<HttpReply>();

  constructor(request: FastifyRequest, pipeline: HttpCallService, ctx: CallContext) {
    this.#body.promise.catch(() => {}); // read only when a layer asks for it
    const url = request.raw.url ?? '/';
    const q = url.indexOf('?');
    this.call = {
      method: request.method,
      target: url,
      path: q === -1 ? url : url.slice(0, q),
      metadata: request.headers,
      timeoutMs: readTimeoutMs(request.headers),
      body: () => {
        this.#bodyWanted.resolve();
        return this.#body.promise;
      },
      raw: request.raw,
    };
    exchanges.set(request.raw, this);
    this.result = pipeline(this.call, ctx).then(
      (reply) => (this.#reply = reply),
      (error: unknown) => (this.#reply = encodeResponse(errorResponse(error))),
    );
  }

  /** The exchange of `raw`, if the kit started one. */
  static of(raw: IncomingMessage): FastifyExchange | undefined {
    return exchanges.get(raw);
  }

  /** The context the layers handed to the handler, once they reached it. */
  get ctx(): CallContext | undefined {
    return this.#ctx;
  }

  /** The layers' reply when they settled without running the handler (a refusal, a replay). */
  get earlyReply(): HttpReply | undefined {
    return this.#ctx === undefined ? this.#reply : undefined;
  }

  /** Waits until the layers need the body, reach the handler, or answer by themselves. */
  async untilBodyOrHandler(): Promise<void> {
    await Promise.race([this.#bodyWanted.promise, this.#entered.promise, this.result]);
  }

  /** Hands the parsed body to the layers and waits until they reach the handler or answer. */
  async withBody(body: Buffer): Promise<void> {
    this.#body.resolve(body);
    await Promise.race([this.#entered.promise, this.result]);
  }

  /** Fastify answered before the handler (a parse or validation error): the layers stop waiting. */
  answeredWithoutHandler(): void {
    this.#body.reject(new Error('the request was answered before its handler ran'));
  }

  /** The innermost service: lets the route handler run, and resolves with what it sent. */
  enter(ctx: CallContext): Promise<HttpReply> {
    this.#ctx = ctx;
    this.#entered.resolve();
    return this.#handlerReply.promise;
  }

  /** The handler's reply, from `onSend` (later calls are ignored). */
  handled(reply: HttpReply): void {
    this.#handlerReply.resolve(reply);
  }
}

/** The innermost service of the plugin's stack: the route handler, reached through Fastify's own flow. */
export const fastifyHandlerService: HttpCallService = (call, ctx) => {
  const exchange = exchanges.get(call.raw);
  if (exchange === undefined) return Promise.reject(new Error('no Fastify request for this call'));
  return exchange.enter(ctx);
};

/** The handler's reply as the layers see it: status, content type and the serialized payload. */
export function replyOf(reply: FastifyReply, payload: unknown): HttpReply {
  const type = reply.getHeader('content-type');
  const headers: Record<string, string> = type === undefined ? {} : { 'content-type': String(type) };
  if (typeof payload === 'string')
    return { status: reply.statusCode, headers, body: Buffer.from(payload, 'utf8') };
  if (Buffer.isBuffer(payload)) return { status: reply.statusCode, headers, body: payload };
  if (payload === undefined || payload === null)
    return { status: reply.statusCode, headers, body: Buffer.alloc(0) };
  return { status: reply.statusCode, headers, body: Buffer.alloc(0), streamed: true };
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
