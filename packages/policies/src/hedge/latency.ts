/**
 * Recent latencies and a percentile over them, for hedging "after the p95". A ring of the last
 * `size` samples; the percentile is recomputed every `size / 10` samples (a sort of at most `size`
 * numbers), so reading it per call costs nothing.
 */
export class LatencyWindow {
  readonly #samples: Float64Array;
  readonly #percentile: number;
  readonly #refreshEvery: number;
  #count = 0;
  #next = 0;
  #sinceRefresh = 0;
  #cached: number | undefined;

  constructor(size: number, percentile: number) {
    this.#samples = new Float64Array(size);
    this.#percentile = percentile;
    this.#refreshEvery = Math.max(1, Math.floor(size / 10));
  }

  /** Number of samples held (at most the window size). */
  get count(): number {
    return this.#count;
  }

  record(latencyMs: number): void {
    this.#samples[this.#next] = latencyMs;
    this.#next = (this.#next + 1) % this.#samples.length;
    if (this.#count < this.#samples.length) this.#count++;
    if (++this.#sinceRefresh >= this.#refreshEvery || this.#cached === undefined) this.#refresh();
  }

  /** The percentile of the samples held, or `undefined` before the first refresh with enough data. */
  get value(): number | undefined {
    return this.#cached;
  }

  #refresh(): void {
    this.#sinceRefresh = 0;
    // Too few samples say little about a tail: wait for a tenth of the window (at least 10).
    if (this.#count < Math.max(10, this.#refreshEvery)) return;
    const sorted = this.#samples.slice(0, this.#count).sort();
    const rank = Math.min(sorted.length - 1, Math.ceil(this.#percentile * sorted.length) - 1);
    this.#cached = sorted[Math.max(0, rank)]!;
  }
}
