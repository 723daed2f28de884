import { type CallContext, InvalidArgumentError, markCancelsPromptly, type Service } from '@meshkit/core';
import { checkInteger } from '@meshkit/core/internal';
import { type buildConnector, Pool } from 'undici';
import { defaultRetryableStatuses } from './errors.ts';
import type { Target } from './exchange.ts';
import { sendBuffered } from './exchange-buffered.ts';
import { sendStreaming } from './exchange-streamed.ts';
import { alertKeepingConnector, type TlsOptions, tlsConnectOptions } from './tls.ts';
import type { HttpRequest, HttpResponse } from './types.ts';

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
  /**
   * The largest response body read, in bytes, or `false` for no limit. A body over it fails the call
   * with `ERR_INVALID_PAYLOAD` naming the limit (not retried, not counted by the breaker): at once when
   * its `content-length` says so, else as soon as the bytes read pass it, for streamed `request()`
   * bodies too. The connection is closed, so the rest is never transferred. Defaults to 16 MiB.
   */
  readonly maxResponseBytes?: number | false;
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

/**
 * The origin for an endpoint address (`host:port` or a URL); `https` when TLS is configured. Throws an
 * `InvalidArgumentError` naming `field` for an address that is not one (a port outside 1-65535 included).
 */
export function originOf(address: string, secure: boolean, field = 'endpoint.address'): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address)
    ? address
    : `${secure ? 'https' : 'http'}://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError(field, 'must be host:port or an http(s) URL', address);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(field, 'must use http or https', address);
  }
  if (url.hostname === '') throw new InvalidArgumentError(field, 'must name a host', address);
  return url.origin;
}

/** Validated, shared form of {@link HttpTransportOptions}. */
export interface ResolvedTransportOptions {
  readonly pool: Pool.Options;
  readonly secure: boolean;
  readonly retryableStatuses: ReadonlySet<number>;
  readonly maxErrorBodyBytes: number;
  readonly maxResponseBytes: number | undefined;
}

/** The default of {@link HttpTransportOptions.maxResponseBytes}: 16 MiB. */
export const defaultMaxResponseBytes = 16 * 1024 * 1024;

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
  const maxResponseBytes =
    options.maxResponseBytes === false
      ? undefined
      : checkInteger(`${field}.maxResponseBytes`, options.maxResponseBytes ?? defaultMaxResponseBytes, 1);
  const tls = options.tls === undefined ? undefined : tlsConnectOptions(options.tls, `${field}.tls`);
  return {
    pool: {
      connections,
      pipelining,
      keepAliveTimeout: keepAliveTimeoutMs,
      maxResponseSize: maxResponseBytes ?? -1,
      connect:
        tls === undefined
          ? { timeout: connectTimeoutMs }
          : alertKeepingConnector({ timeout: connectTimeoutMs, ...tls } as buildConnector.BuildOptions),
    },
    secure: tls !== undefined,
    retryableStatuses: new Set(statuses),
    maxErrorBodyBytes,
    maxResponseBytes,
  };
}

/**
 * A {@link Service} that sends requests to one endpoint over a keep-alive undici `Pool`.
 *
 * - Context metadata (`traceparent`, `x-request-id`, ...) goes out as headers; the deadline as
 *   `x-meshkit-timeout-ms` (time left); the context's idempotency key as `Idempotency-Key`.
 * - Cancellation reaches undici through `ctx.onAbort`, never `ctx.signal` (whose `AbortSignal.any`
 *   chain costs more than the request itself), and only when the context is cancellable. When nothing
 *   else can cancel the call, the transport honours a deadline on its own: undici's headers timeout
 *   until the headers, then a timer that ends the body, buffered or streamed.
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
  const { retryableStatuses, maxErrorBodyBytes, maxResponseBytes } = resolved;

  const target: Target = { pool, origin, retryableStatuses, maxErrorBodyBytes, maxResponseBytes };
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
