/**
 * `histogram_quantile` as PromQL computes it, over cumulative bucket counts keyed by their upper bound
 * (`le`). Linear interpolation inside the bucket the rank falls in; the lowest bucket starts at 0 (when
 * its bound is positive); a rank in the `+Inf` bucket answers the highest finite bound.
 *
 * @param q the quantile, 0..1 (below 0 answers -Inf, above 1 +Inf, as PromQL does).
 * @param buckets cumulative counts by upper bound; must include `+Inf`.
 * @returns the estimate, in the unit of the bounds, or `NaN` when there is nothing to estimate from
 *   (fewer than two buckets, no `+Inf` bucket, or no observation).
 */
export function histogramQuantile(q: number, buckets: ReadonlyMap<number, number>): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  if (sorted.length < 2) return Number.NaN;
  const last = sorted[sorted.length - 1]!;
  if (last[0] !== Number.POSITIVE_INFINITY) return Number.NaN;
  // Counts must not decrease with the bound; PromQL repairs small inconsistencies (from scrapes that are
  // not atomic) by carrying the running maximum forward.
  const counts = sorted.map((b) => b[1]);
  for (let i = 1; i < counts.length; i++) counts[i] = Math.max(counts[i]!, counts[i - 1]!);
  const total = counts[counts.length - 1]!;
  if (!(total > 0)) return Number.NaN;
  const rank = q * total;
  let b = 0;
  while (b < counts.length - 1 && counts[b]! < rank) b++;
  if (b === counts.length - 1) return sorted[counts.length - 2]![0];
  const upper = sorted[b]![0];
  if (b === 0 && upper <= 0) return upper;
  const lower = b === 0 ? 0 : sorted[b - 1]![0];
  const below = b === 0 ? 0 : counts[b - 1]!;
  const inBucket = counts[b]! - below;
  if (inBucket === 0) return upper;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}
