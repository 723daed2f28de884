/**
 * Peak EWMA latency (Finagle, Linkerd, tower): a moving average that jumps up to any slower observation
 * at once and decays toward faster ones with time constant `decayMs`. Reading it also decays it, so an
 * endpoint that stopped getting traffic because it was slow looks cheaper over time and gets probed again.
 * Up to here this is Finagle's `PeakEwma` (decay by the time since the last sample, reads included).
 *
 * One addition for low traffic: a *lone* peak (a jump that the sample before did not also make, such as
 * one cold-start response) decays with the time constant `decayMs / 10` until the next sample. At one call
 * at a time, P2C never sends a call to an endpoint that looks slower than its peer, so with `decayMs` alone
 * a single slow response would keep an equal endpoint idle for about `decayMs × ln(peak / normal)` (tens
 * of seconds); now it is probed again within a few seconds. A slow endpoint confirms its peak on the next
 * sample and from then on decays at `decayMs` as before.
 *
 * @example
 * ```ts
 * import { FakeClock } from '@meshkit/core';
 * const clock = new FakeClock();
 * const rtt = new PeakEwma(30, 10_000, clock.now());
 * rtt.observe(120, clock.now());   // a slow call: the estimate jumps to 120 ms
 * rtt.read(clock.now() + 1_000);   // a lone peak, one second later without calls: about 44 ms
 * rtt.observe(120, clock.now() + 1_000); // slow again: a confirmed peak now decays at 10 s
 * ```
 */
export class PeakEwma {
  #estimate: number;
  #stamp: number;
  readonly #decayMs: number;
  /** The last sample jumped the estimate up. */
  #peaked = false;
  /** The estimate is a lone peak: it jumped up on a sample that followed one that did not. */
  #lone = false;

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
      this.#lone = !this.#peaked;
      this.#peaked = true;
    } else {
      const decay = Math.exp(-Math.max(0, now - this.#stamp) / this.#timeConstant());
      this.#estimate = this.#estimate * decay + rttMs * (1 - decay);
      this.#lone = false;
      this.#peaked = false;
    }
    this.#stamp = now;
  }

  /** The estimate at `now`, in ms, decayed for the time since the last observation. */
  read(now: number): number {
    const elapsed = now - this.#stamp;
    if (elapsed > 0) {
      this.#estimate *= Math.exp(-elapsed / this.#timeConstant());
      this.#stamp = now;
    }
    return this.#estimate;
  }

  #timeConstant(): number {
    return this.#lone ? this.#decayMs / 10 : this.#decayMs;
  }
}
