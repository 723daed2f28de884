import {
  type CallContext,
  checkInteger,
  completable,
  ErrorCode,
  InvalidArgumentError,
  isAbortError,
  isMeshError,
  MeshError,
  type MetadataValue,
  markCancelsPromptly,
  type Service,
} from '@meshkit/core';
import { type Dispatcher, Pool } from 'undici';
import {
  defaultRetryableStatuses,
  drainLimitBytes,
  mapTransportError,
  type StatusErrorOptions,
  statusError,
  statusErrorFrom,
} from './errors.ts';
import { type TlsOptions, tlsConnectOptions } from './tls.ts';
import type { HttpHeaders, HttpRequest, HttpResponse, HttpResponseBody } from './types.ts';
import { timeoutHeaderValue, wireHeaders } from './wire.ts';

/** Options of {@link httpTransport}, shared by every endpoint of a client. */
export interface HttpTransportOptions {
  /** How long establishing a connection (TCP and TLS) may take, in ms. Defaults to 2,000. */
  readonly connectTimeoutMs?: number;
  /** How long an idle keep-alive connection is kept, in ms. Defaults to 4,000. */
  readonly keepAliveTimeoutMs?: number;
  /** Connections per endpoint. Defaults to unlimited (one per concurrent request, then reused). */
  readonly connections?: number;
  /** Requests pipelined per connection. Defaults to 1 (no pipelining, the safe choice for retries). */
  readonly pipelining?: number;
  /** TLS and mutual TLS; switches addresses without a scheme to `https`. */
  readonly tls?: TlsOptions;
  /** Statuses reported as retryable. Defaults to 429, 500, 502, 503, 504. */
  readonly retryableStatuses?: readonly number[];
  /** How much of an error response's body `ERR_HTTP_STATUS` keeps, in bytes. Defaults to 4,096. */
  readonly maxErrorBodyBytes?: number;
}

/** A per-endpoint HTTP service over one undici keep-alive `Pool`. */
export interface HttpTransport extends Service<HttpRequest, HttpResponse> {
  /** The origin this transport talks to, e.g. `http://127.0.0.1:8080`. */
  readonly origin: string;
  /** Closes the pool after in-flight requests finish. */
  close(): Promise<void>;
  /** Closes the pool at once, failing in-flight requests. */
  destroy(): Promise<void>;
}

/** The origin for an endpoint address (`host:port` or a URL); `https` when TLS is configured. */
export function originOf(address: string, secure: boolean): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address)
    ? address
    : `${secure ? 'https' : 'http'}://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError('endpoint.address', 'must be host:port or an http(s) URL', address);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError('endpoint.address', 'must use http or https', address);
  }
  return url.origin;
}

/** Validated, shared form of {@link HttpTransportOptions}. */
export interface ResolvedTransportOptions {
  readonly pool: Pool.Options;
  readonly secure: boolean;
  readonly retryableStatuses: ReadonlySet<number>;
  readonly maxErrorBodyBytes: number;
}

/** Checks {@link HttpTransportOptions} once, so every endpoint's transport shares the result. */
export function resolveTransportOptions(
  options: HttpTransportOptions = {},
  field = 'http',
): ResolvedTransportOptions {
  const connectTimeoutMs = checkInteger(`${field}.connectTimeoutMs`, options.connectTimeoutMs ?? 2_000, 1);
  const keepAliveTimeoutMs = checkInteger(
    `${field}.keepAliveTimeoutMs`,
    options.keepAliveTimeoutMs ?? 4_000,
    1,
  );
  const pipelining = checkInteger(`${field}.pipelining`, options.pipelining ?? 1, 1);
  const connections =
    options.connections === undefined ? null : checkInteger(`${field}.connections`, options.connections, 1);
  const statuses = options.retryableStatuses ?? defaultRetryableStatuses;
  if (!Array.isArray(statuses)) {
    throw new InvalidArgumentError(`${field}.retryableStatuses`, 'must be an array of statuses', statuses);
  }
  for (const s of statuses) checkInteger(`${field}.retryableStatuses[]`, s, 100, 599);
  const maxErrorBodyBytes = checkInteger(`${field}.maxErrorBodyBytes`, options.maxErrorBodyBytes ?? 4_096, 0);
  const tls = options.tls === undefined ? undefined : tlsConnectOptions(options.tls, `${field}.tls`);
  return {
    pool: {
      connections,
      pipelining,
      keepAliveTimeout: keepAliveTimeoutMs,
      connect: { timeout: connectTimeoutMs, ...tls },
    },
    secure: tls !== undefined,
    retryableStatuses: new Set(statuses),
    maxErrorBodyBytes,
  };
}

/**
 * A {@link Service} that sends requests to one endpoint over a keep-alive undici `Pool`.
 *
 * - Context metadata (`traceparent`, `x-request-id`, ...) goes out as headers; the deadline as
 *   `x-meshkit-timeout-ms` (time left); the context's idempotency key as `Idempotency-Key`.
 * - Cancellation reaches undici through `ctx.onAbort`, never `ctx.signal` (whose `AbortSignal.any`
 *   chain costs more than the request itself), and only when the context is cancellable. A deadline is
 *   enforced as undici's headers timeout when nothing else can cancel the call, so the transport
 *   honours it on its own.
 * - Failures become `MeshError`s: `ERR_CONNECT` (never sent), `ERR_CONNECTION_RESET`, `ERR_TIMEOUT`,
 *   `ERR_DEADLINE_EXCEEDED`, and `ERR_HTTP_STATUS` for status >= 400 (with status, headers, a body
 *   excerpt and `retryAfterMs`).
 *
 * @example
 * ```ts
 * import { createContext } from '@meshkit/core';
 * const users = httpTransport('127.0.0.1:8080');
 * const res = await users({ method: 'GET', path: '/users/42' }, createContext({ timeoutMs: 500 }));
 * console.log(res.status, await res.body?.json());
 * await users.close();
 * ```
 */
export function httpTransport(
  address: string,
  options: HttpTransportOptions | ResolvedTransportOptions = {},
): HttpTransport {
  const resolved = 'pool' in options ? options : resolveTransportOptions(options);
  const origin = originOf(address, resolved.secure);
  const pool = new Pool(origin, resolved.pool);
  const { retryableStatuses, maxErrorBodyBytes } = resolved;

  const target: Target = { pool, origin, retryableStatuses, maxErrorBodyBytes };
  const service = ((req: HttpRequest, ctx: CallContext): Promise<HttpResponse> =>
    req.buffer === true ? sendBuffered(target, req, ctx) : sendStreaming(target, req, ctx)) as HttpTransport;

  Object.defineProperties(service, {
    origin: { value: origin },
    close: { value: () => pool.close() },
    destroy: { value: () => pool.destroy() },
  });
  // A cancelled call aborts its request, queued or in flight, and rejects at once.
  return markCancelsPromptly(service);
}

function deadlineExceeded(origin: string, beforeSend: boolean, cause?: unknown): MeshError {
  return new MeshError(
    ErrorCode.DEADLINE_EXCEEDED,
    beforeSend ? `deadline passed before sending to ${origin}` : `deadline passed waiting for ${origin}`,
    { cause, rejected: beforeSend, details: { address: origin } },
  );
}

/** What a transport's requests share: its pool and the settings they are answered with. */
interface Target {
  readonly pool: Pool;
  readonly origin: string;
  readonly retryableStatuses: ReadonlySet<number>;
  readonly maxErrorBodyBytes: number;
}

/**
 * undici's options for `req`: the context's metadata and the request's headers, the time left as
 * `x-meshkit-timeout-ms` and the idempotency key. Throws when the deadline has passed or the call is
 * already cancelled, before anything is sent.
 *
 * The headers go to undici as a flat `[name, value, ...]` list: undici reads a list in one loop, where an
 * object costs a merged copy here and a key array there on every call. A request header wins over
 * metadata of the same name; the deadline header is always meshkit's own.
 */
function dispatchOptions(target: Target, req: HttpRequest, ctx: CallContext): Dispatcher.DispatchOptions {
  const timeout = timeoutHeaderValue(ctx);
  if (timeout === '0') throw deadlineExceeded(target.origin, true);
  if (ctx.aborted) throw mapTransportError(undefined, ctx, target.origin);
  const own = req.headers ?? noRequestHeaders;
  const metadata = ctx.metadata;
  const headers: string[] = [];
  for (const name in metadata) {
    if (own[name] === undefined && name !== wireHeaders.timeout) pushMetadata(headers, name, metadata[name]!);
  }
  for (const name in own) {
    if (name !== wireHeaders.timeout || timeout === undefined) headers.push(name, own[name]!);
  }
  let headersTimeout: number | undefined;
  if (timeout !== undefined) {
    headers.push(wireHeaders.timeout, timeout);
    // With nothing else to cancel the call, undici's own timer enforces the deadline. A cancellable
    // context has a layer (deadline, timeout, hedge) that aborts it on time with its own error.
    if (!ctx.cancellable) headersTimeout = Number(timeout);
  }
  const key = ctx.idempotencyKey;
  if (
    key !== undefined &&
    own[wireHeaders.idempotencyKey] === undefined &&
    metadata[wireHeaders.idempotencyKey] === undefined
  ) {
    headers.push(wireHeaders.idempotencyKey, key);
  }
  // `headersTimeout: undefined` is undici's default, like leaving it out; one object shape for every call.
  return { method: req.method, path: req.path, headers, body: req.body ?? null, headersTimeout };
}

const noRequestHeaders: Readonly<Record<string, string>> = Object.freeze({});

/** One metadata entry as header lines: a repeated key as several lines, bytes base64-encoded (gRPC's rule). */
function pushMetadata(headers: string[], name: string, value: MetadataValue): void {
  if (typeof value === 'string') headers.push(name, value);
  else if (value instanceof Uint8Array) headers.push(name, Buffer.from(value).toString('base64'));
  else for (const one of value) pushMetadata(headers, name, one);
}

/** How a response with an error status becomes an error, for either kind of exchange. */
function statusErrorOptions(target: Target, ctx: CallContext): StatusErrorOptions {
  return {
    retryableStatuses: target.retryableStatuses,
    maxBodyBytes: target.maxErrorBodyBytes,
    nowMs: ctx.clock.now(),
    address: target.origin,
  };
}

/** A failed exchange as the caller sees it: an expired deadline, or the mapped transport error. */
function failure(error: unknown, ctx: CallContext, origin: string): unknown {
  if (ctx.deadline !== undefined && ctx.remainingMs() <= 0 && !ctx.aborted) {
    return deadlineExceeded(origin, false, error);
  }
  return mapTransportError(error, ctx, origin);
}

/**
 * A buffered exchange (the typed client methods). Not an `async` function: the handler settles the
 * caller's promise itself, with the finished response or the mapped error, which saves a promise and an
 * `await` hop per call on a path this short.
 */
function sendBuffered(target: Target, req: HttpRequest, ctx: CallContext): Promise<HttpResponse> {
  let options: Dispatcher.DispatchOptions;
  try {
    options = dispatchOptions(target, req, ctx);
  } catch (error) {
    return Promise.reject(error);
  }
  const promise = new Promise<HttpResponse>(captureSettlers);
  const exchange = new BufferedExchange(target, ctx, capturedResolve, capturedReject);
  try {
    target.pool.dispatch(options, exchange);
  } catch (error) {
    exchange.fail(error);
  }
  return promise;
}

// The settling functions of the promise `sendBuffered` is making. A promise's executor runs at once,
// so one shared executor hands them over through these: no executor closure (and no closure context
// holding the call's arguments) per call.
let capturedResolve: (value: HttpResponse) => void;
let capturedReject: (error: unknown) => void;
function captureSettlers(resolve: (value: HttpResponse) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** An exchange whose response body stays a stream (`request()`). */
async function sendStreaming(target: Target, req: HttpRequest, ctx: CallContext): Promise<HttpResponse> {
  const options = dispatchOptions(target, req, ctx) as Dispatcher.RequestOptions;
  let response: Dispatcher.ResponseData;
  try {
    response = await target.pool.request({
      ...options,
      signal: ctx.cancellable ? (new ContextAbort(ctx) as unknown as AbortSignal) : undefined,
    });
  } catch (error) {
    throw failure(error, ctx, target.origin);
  }
  const body = response.body as unknown as HttpResponseBody;
  if (response.statusCode >= 400) {
    throw await statusError(response.statusCode, response.headers, body, statusErrorOptions(target, ctx));
  }
  const result: HttpResponse = { status: response.statusCode, headers: response.headers, body };
  // The call is over when the body is: read to its end, failed, cancelled or dumped. Until then the
  // deadline above can still fire and abort it, and the layers that hold something for it keep it.
  const completion = completable(result);
  body.once('close', () => completion.complete(body.errored ?? undefined));
  return result;
}

/**
 * The part of an event target undici uses for `signal`, backed by `ctx.onAbort`: undici registers one
 * listener when the request starts and removes it when the response ends, so the cancel scope's hook
 * lives exactly as long as the request. No `aborted` property: undici would then insist on a real
 * `AbortSignal` (the transport checks `ctx.aborted` before sending instead).
 */
class ContextAbort {
  readonly #ctx: CallContext;
  #unregister: (() => void) | undefined;
  constructor(ctx: CallContext) {
    this.#ctx = ctx;
  }
  /**
   * What undici fails the request, or destroys a body already streaming, with: an expired deadline or
   * timeout as its own `MeshError` (the reason a timeout aborts with is an `AbortError` caused by it), a
   * cancellation as the `AbortError`.
   */
  get reason(): unknown {
    const reason = this.#ctx.abortReason;
    const cause = (reason as { cause?: unknown } | undefined)?.cause;
    return isAbortError(reason) &&
      isMeshError(cause) &&
      (cause.code === ErrorCode.DEADLINE_EXCEEDED || cause.code === ErrorCode.TIMEOUT)
      ? cause
      : reason;
  }
  addEventListener(_type: 'abort', listener: () => void): void {
    this.#unregister?.();
    this.#unregister = this.#ctx.onAbort(listener);
  }
  removeEventListener(): void {
    this.#unregister?.();
    this.#unregister = undefined;
  }
}

/** The headers of an exchange before its response starts: shared, not an empty object per call. */
const noHeaders: HttpHeaders = Object.freeze({});

/**
 * One buffered exchange through undici's handler API, without a response stream: the body is collected
 * straight from the parser's chunks (an error body only up to `maxErrorBodyBytes`, then read on a little
 * so the connection can be reused, then cut off), and the caller's promise settled with the finished
 * response or the mapped error. Cancellation goes to the request's own controller through `ctx.onAbort`;
 * a call cancelled while still queued for a connection rejects at once. One object per exchange (methods
 * on the prototype, no closures per call) as undici's handler.
 */
class BufferedExchange implements Dispatcher.DispatchHandler {
  readonly #target: Target;
  readonly #ctx: CallContext;
  readonly #resolve: (value: HttpResponse) => void;
  readonly #reject: (error: unknown) => void;
  /** The body's first chunk; most bodies arrive in one, which then needs no array and no copy. */
  #first: Buffer | undefined;
  /** Every chunk, once there is more than one. */
  #chunks: Buffer[] | undefined;
  #controller: Dispatcher.DispatchController | undefined;
  #unregister: (() => void) | undefined;
  #settled = false;
  #status = 0;
  #headers: HttpHeaders = noHeaders;
  #kept = 0;
  #seen = 0;

  constructor(
    target: Target,
    ctx: CallContext,
    resolve: (value: HttpResponse) => void,
    reject: (error: unknown) => void,
  ) {
    this.#target = target;
    this.#ctx = ctx;
    this.#resolve = resolve;
    this.#reject = reject;
    if (ctx.cancellable) this.#unregister = ctx.onAbort((reason) => this.#cancel(reason));
  }

  #cancel(reason: unknown): void {
    this.#controller?.abort(reason instanceof Error ? reason : new Error(String(reason)));
    this.fail(reason);
  }

  fail(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#unregister?.();
    this.#reject(failure(error, this.#ctx, this.#target.origin));
  }

  #finish(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#unregister?.();
    const chunks = this.#chunks;
    const first = this.#first;
    const text =
      chunks !== undefined
        ? Buffer.concat(chunks).toString('utf8')
        : first === undefined
          ? ''
          : first.toString('utf8');
    const status = this.#status;
    if (status < 400) {
      this.#resolve({ status, headers: this.#headers, text });
      return;
    }
    const target = this.#target;
    this.#reject(statusErrorFrom(status, this.#headers, text, statusErrorOptions(target, this.#ctx)));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    // Settled before it started: cancelled while waiting for a connection (the abort listener already
    // rejected the caller), so stop it before it is written. Checking this flag rather than
    // `ctx.aborted` spares a walk up the cancel scopes on every call; an uncancellable context has no
    // listener, and cannot be aborted either.
    if (this.#settled) controller.abort(new Error('cancelled before sending'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: unknown): void {
    this.#status = statusCode;
    this.#headers = headers as HttpHeaders;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#seen += chunk.length;
    if (this.#status < 400) this.#push(chunk);
    else {
      const maxErrorBytes = this.#target.maxErrorBodyBytes;
      if (this.#kept < maxErrorBytes) {
        const part = chunk.subarray(0, maxErrorBytes - this.#kept);
        this.#push(part);
        this.#kept += part.length;
      } else if (this.#seen > maxErrorBytes + drainLimitBytes) {
        // Past the excerpt and the drain allowance: the status and excerpt are all the caller gets.
        this.#finish();
        controller.abort(new Error('error body too large'));
      }
    }
  }

  #push(chunk: Buffer): void {
    if (this.#first === undefined) this.#first = chunk;
    else if (this.#chunks === undefined) this.#chunks = [this.#first, chunk];
    else this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.#finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }
}
