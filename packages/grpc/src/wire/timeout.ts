/**
 * The `grpc-timeout` header: at most 8 digits and a unit (`H`ours, `M`inutes, `S`econds,
 * `m`illiseconds, `u` microseconds, `n`anoseconds).
 */

const units: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };
const pattern = /^(\d{1,8})([HMSmun])$/;

/**
 * Parses a `grpc-timeout` value into milliseconds. Returns `undefined` for a missing or malformed value
 * (the spec treats a malformed one as absent).
 */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = pattern.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * units[match[2]!]!;
}

/**
 * Encodes milliseconds left as a `grpc-timeout` value: whole milliseconds while they fit in 8 digits,
 * then seconds, minutes, hours (rounded up, so the server never sees less time than we have). At least
 * `1m`: the spec has no zero, and the transport fails a call whose deadline has passed before sending it.
 */
export function encodeGrpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  if (whole < 1e8) return `${whole}m`;
  const seconds = Math.ceil(whole / 1_000);
  if (seconds < 1e8) return `${seconds}S`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 1e8) return `${minutes}M`;
  return `${Math.min(99_999_999, Math.ceil(minutes / 60))}H`;
}
