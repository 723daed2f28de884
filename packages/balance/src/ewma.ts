/**
 * Peak EWMA latency (Finagle, Linkerd, tower): a moving average that jumps up to any slower observation
 * at once and decays toward faster ones with time constant `decayMs`. Reading it also decays it, so an
 * endpoint that stopped getting traffic because it was slow looks cheaper over time and gets probed again.
 *
 * @example
 * ```ts
 * import { FakeClock } from '@meshkit/core';
 * const clock = new FakeClock();
 * const rtt = new PeakEwma(30, 10_000, clock.now());
 * rtt.observe(120, clock.now());   // a slow call: the estimate jumps to 120 ms
 * rtt.read(clock.now() + 10_000);  // ten seconds later without calls: about 44 ms
 * ```
 */
export class PeakEwma {
  #estimate: number;
  #stamp: number;
  readonly #decayMs: number;

  /**
   * @param initialMs the estimate before any observation; a guess that keeps new endpoints from
   *   looking free.
   * @param decayMs the time constant in ms: after `decayMs` without observations, the estimate has
   *   fallen to 1/e of its value.
   */
  constructor(initialMs: number, decayMs: number, now: number) {
    this.#estimate = initialMs;
    this.#decayMs = decayMs;
    this.#stamp = now;
  }

  /** Records one round-trip time, in ms, finished at `now`. */
  observe(rttMs: number, now: number): void {
    if (rttMs > this.#estimate) {
      this.#estimate = rttMs;
    } else {
      const decay = Math.exp(-Math.max(0, now - this.#stamp) / this.#decayMs);
      this.#estimate = this.#estimate * decay + rttMs * (1 - decay);
    }
    this.#stamp = now;
  }

  /** The estimate at `now`, in ms, decayed for the time since the last observation. */
  read(now: number): number {
    const elapsed = now - this.#stamp;
    if (elapsed > 0) {
      this.#estimate *= Math.exp(-elapsed / this.#decayMs);
      this.#stamp = now;
    }
    return this.#estimate;
  }
}
