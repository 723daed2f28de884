/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3): either delay-seconds or an HTTP-date.
 * Returns the wait in milliseconds (never negative), or `undefined` when absent or malformed.
 *
 * @example
 * ```ts
 * parseRetryAfter('2', Date.now());                              // 2000
 * parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT', Date.now());  // ms until then, 0 if past
 * ```
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only the HTTP-date shapes; Date.parse would also accept things like "3" or "2026".
  if (!/^[A-Za-z]{3},? /.test(text) && !/^[A-Za-z]+, \d/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
