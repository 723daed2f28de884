import { checkFunction } from '@meshkit/core';
import { type BalancedEndpoint, type IndexSource, indexSource, type Picker, type Random } from '../picker.ts';
import type { RandomOptions } from './basic.ts';

/**
 * Power of two choices: draw two distinct endpoints at random and keep the less loaded. Nearly as good as
 * scanning every endpoint for the least loaded, at O(1) per pick, and without the herd behaviour of
 * always choosing the global minimum (Mitzenmacher; Finagle, Linkerd, Envoy's least request).
 */
class PowerOfTwo implements Picker {
  readonly name: string;
  readonly #index: IndexSource;
  readonly #cost: (e: BalancedEndpoint) => number;
  #list: readonly BalancedEndpoint[] = [];

  constructor(name: string, random: Random | undefined, cost: (e: BalancedEndpoint) => number) {
    this.name = name;
    this.#index = indexSource(
      random === undefined ? undefined : checkFunction<Random>(`${name}.random`, random),
    );
    this.#cost = cost;
  }

  update(endpoints: readonly BalancedEndpoint[]): void {
    this.#list = endpoints;
  }

  pick(): BalancedEndpoint | undefined {
    const list = this.#list;
    const n = list.length;
    if (n < 2) return list[0];
    const i = this.#index.next(n);
    // A second index drawn from the other n-1 slots: always distinct, no retry loop.
    let j = this.#index.next(n - 1);
    if (j >= i) j++;
    const a = list[i]!;
    const b = list[j]!;
    return this.#cost(b) < this.#cost(a) ? b : a;
  }
}

const inFlight = (e: BalancedEndpoint): number => e.inFlight;
const load = (e: BalancedEndpoint): number => e.load();

/**
 * Least request: P2C on in-flight calls. Good when calls cost about the same everywhere.
 *
 * @example
 * ```ts
 * balance({ service: 'users', endpoints, connect, picker: leastRequest() });
 * ```
 */
export function leastRequest(options: RandomOptions = {}): Picker {
  return new PowerOfTwo('least-request', options.random, inFlight);
}

/**
 * P2C + peak EWMA, the default: P2C on each endpoint's `load()`, which the balancer computes as peak-EWMA
 * latency times (in-flight + 1). A slow or overloaded endpoint gets little traffic until its estimate
 * decays, then is probed again.
 *
 * @example
 * ```ts
 * balance({ service: 'users', endpoints, connect, picker: p2cPeakEwma() });
 * ```
 */
export function p2cPeakEwma(options: RandomOptions = {}): Picker {
  return new PowerOfTwo('p2c-ewma', options.random, load);
}
