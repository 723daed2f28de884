/**
 * What one exchange with an endpoint needs, whichever way its body is read: the request as undici takes
 * it (headers, deadline, idempotency key), and how failures and error statuses become errors.
 */
import { type CallContext, ErrorCode, MeshError, type MetadataValue } from '@meshkit/core';
import type { Dispatcher, Pool } from 'undici';
import { mapTransportError, type StatusErrorOptions } from './errors.ts';
import type { HttpRequest } from './types.ts';
import { timeoutHeaderValue, wireHeaders } from './wire.ts';

function deadlineExceeded(origin: string, beforeSend: boolean, cause?: unknown): MeshError {
  return new MeshError(
    ErrorCode.DEADLINE_EXCEEDED,
    beforeSend ? `deadline passed before sending to ${origin}` : `deadline passed waiting for ${origin}`,
    { cause, rejected: beforeSend, details: { address: origin } },
  );
}

/** What a transport's requests share: its pool and the settings they are answered with. */
export interface Target {
  readonly pool: Pool;
  readonly origin: string;
  readonly retryableStatuses: ReadonlySet<number>;
  readonly maxErrorBodyBytes: number;
  /** The largest response body read, in bytes; `undefined` for no limit. */
  readonly maxResponseBytes: number | undefined;
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
export function dispatchOptions(
  target: Target,
  req: HttpRequest,
  ctx: CallContext,
): Dispatcher.DispatchOptions {
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
export function statusErrorOptions(target: Target, ctx: CallContext, req: HttpRequest): StatusErrorOptions {
  const query = req.path.indexOf('?');
  return {
    retryableStatuses: target.retryableStatuses,
    maxBodyBytes: target.maxErrorBodyBytes,
    nowMs: ctx.clock.now(),
    address: target.origin,
    method: req.method,
    // Without the query string, which may carry what does not belong in logs.
    path: query < 0 ? req.path : req.path.slice(0, query),
  };
}

/** A failed exchange as the caller sees it: an expired deadline, or the mapped transport error. */
export function failure(error: unknown, ctx: CallContext, target: Target): unknown {
  if (ctx.deadline !== undefined && ctx.remainingMs() <= 0 && !ctx.aborted) {
    return deadlineExceeded(target.origin, false, error);
  }
  return mapTransportError(error, ctx, target.origin, target.maxResponseBytes);
}

/** The body's declared size when it is over the target's limit, else `undefined`. */
export function declaredOverLimit(target: Target, headers: unknown): number | undefined {
  const limit = target.maxResponseBytes;
  if (limit === undefined) return undefined;
  const value = (headers as Record<string, string | string[] | undefined>)['content-length'];
  if (typeof value !== 'string') return undefined;
  const declared = Number(value);
  return declared > limit ? declared : undefined;
}
