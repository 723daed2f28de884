/**
 * Server pushback: how long a server asked us to wait before trying again.
 */

const seconds = /^\s*(\d+)\s*$/;

/**
 * Parses an HTTP `Retry-After` value, either delay-seconds (`"120"`) or an HTTP date
 * (`"Wed, 21 Oct 2015 07:28:00 GMT"`), into milliseconds from `nowMs` (never negative). Returns
 * `undefined` for a missing or malformed value.
 *
 * @example
 * ```ts
 * const now = Date.now();
 * parseRetryAfter('3');                                   // 3000
 * parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now);   // ms until then, or 0 if past
 * ```
 */
export function parseRetryAfter(
  value: string | undefined | null,
  nowMs: number = Date.now(),
): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = seconds.exec(value);
  if (match !== null) return Number(match[1]) * 1000;
  if (!/[a-z]/i.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * Parses gRPC's `grpc-retry-pushback-ms` metadata value. A non-negative integer is the delay; a negative
 * or malformed value means the server asks not to retry at all, returned as `Infinity`.
 */
export function parseGrpcPushback(value: string | undefined | null): number | undefined {
  if (typeof value !== 'string') return undefined;
  return /^\s*\d+\s*$/.test(value) ? Number(value) : Infinity;
}

type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

function header(bag: unknown, name: string): string | undefined {
  if (typeof bag !== 'object' || bag === null) return undefined;
  const value = (bag as HeaderBag)[name];
  return Array.isArray(value) ? value[0] : (value as string | undefined);
}

/**
 * The pushback a failure carries, in milliseconds: `details.retryAfterMs`, a `retry-after` entry in
 * `details.headers` (seconds or HTTP date), or `grpc-retry-pushback-ms` in `details.metadata`.
 * `Infinity` means "do not retry"; `undefined` means the error says nothing.
 */
export function pushbackMs(error: unknown, nowMs: number): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const details = (error as { details?: unknown }).details;
  if (typeof details !== 'object' || details === null) return undefined;
  const d = details as { retryAfterMs?: unknown; headers?: unknown; metadata?: unknown };
  if (typeof d.retryAfterMs === 'number' && d.retryAfterMs >= 0) return d.retryAfterMs;
  const fromHeader = parseRetryAfter(header(d.headers, 'retry-after'), nowMs);
  if (fromHeader !== undefined) return fromHeader;
  return parseGrpcPushback(header(d.metadata, 'grpc-retry-pushback-ms'));
}
