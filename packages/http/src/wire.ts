import type { CallContext, Clock } from '@meshkit/core';

/**
 * Header names meshkit puts on the wire.
 *
 * The deadline travels as the time **left**, in whole milliseconds (`x-meshkit-timeout-ms: 850`), the
 * way gRPC's `grpc-timeout` does, not as an absolute epoch time: hosts' clocks disagree by tens or
 * hundreds of milliseconds, which would make a short budget look expired (or generous) downstream. The
 * receiver starts its deadline when it reads the headers, so the network transit time is not
 * subtracted; inside one data centre that is well under a millisecond, and it errs toward finishing work.
 */
export const wireHeaders = {
  /** Milliseconds left until the caller's deadline, a non-negative integer. */
  timeout: 'x-meshkit-timeout-ms',
  /** Set by a meshkit server on a refusal made before any work (draining, expired deadline). */
  rejected: 'x-meshkit-rejected',
  /** The meshkit error code of a refusal, e.g. `ERR_DEADLINE_EXCEEDED`. */
  errorCode: 'x-meshkit-error',
  /** The idempotency key (IETF draft `Idempotency-Key` header). */
  idempotencyKey: 'idempotency-key',
  /** Marks a response the server replayed from its idempotency store. */
  replayed: 'idempotent-replayed',
  /** W3C trace context. */
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  /** Request id, propagated unchanged from hop to hop. */
  requestId: 'x-request-id',
} as const;

/** Incoming headers that a server copies into its context's metadata, so they travel to the next hop. */
export const propagatedHeaders: readonly string[] = [
  wireHeaders.traceparent,
  wireHeaders.tracestate,
  wireHeaders.requestId,
];

/**
 * The value of the timeout header for `ctx`, or `undefined` without a deadline. Rounds down and never
 * goes below 0, so the next hop never gets more time than is left.
 */
export function timeoutHeaderValue(ctx: CallContext): string | undefined {
  if (ctx.deadline === undefined) return undefined;
  return String(Math.max(0, Math.floor(ctx.deadline - ctx.clock.now())));
}

/**
 * Reads the incoming deadline from request headers: an absolute time on `clock`, or `undefined` when
 * the header is absent. A malformed value yields `null` so the server can answer 400.
 */
export function readDeadline(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  clock: Clock,
): number | undefined | null {
  const timeoutMs = readTimeoutMs(headers);
  return timeoutMs == null ? timeoutMs : clock.now() + timeoutMs;
}

/**
 * Reads the caller's remaining time from request headers, in ms: `undefined` when the header is absent,
 * `null` when it is not a whole number of milliseconds.
 */
export function readTimeoutMs(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
): number | undefined | null {
  const raw = headers[wireHeaders.timeout];
  if (raw === undefined) return undefined;
  const text = typeof raw === 'string' ? raw : raw[0];
  if (text === undefined || !/^\d{1,15}$/.test(text.trim())) return null;
  return Number(text.trim());
}
