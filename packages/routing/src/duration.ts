/**
 * Durations in the protobuf `Duration` JSON form Istio accepts (`2s`, `500ms`, `1.5s`, `1m`, `1h`,
 * `1m30s`, `250us`), converted to milliseconds.
 */
const unitMs: Readonly<Record<string, number>> = {
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
  us: 0.001,
  ns: 1e-6,
};
const part = /(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/y;

/** Milliseconds in `text`, or `undefined` when it is not a duration. */
export function parseDurationMs(text: string): number | undefined {
  if (text.length === 0) return undefined;
  let total = 0;
  part.lastIndex = 0;
  while (part.lastIndex < text.length) {
    const start = part.lastIndex;
    const m = part.exec(text);
    if (m === null || m.index !== start) return undefined;
    total += Number(m[1]) * unitMs[m[2]!]!;
  }
  return total;
}
