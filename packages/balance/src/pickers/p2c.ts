import { type CallContext, previousEndpoints } from '@meshkit/core';
import { checkFunction } from '@meshkit/core/internal';
import { type BalancedEndpoint, type IndexSource, indexSource, type Picker, type Random } from '../picker.ts';
import type { RandomOptions } from './basic.ts';

/**
 * Power of two choices: draw two distinct endpoints at random and keep the less loaded. Nearly as good as
 * scanning every endpoint for the least loaded, at O(1) per pick, and without the herd behaviour of
 * always choosing the global minimum (Mitzenmacher; Finagle, Linkerd, Envoy's least request).
 */
abstract class PowerOfTwo implements Picker {
  abstract readonly name: string;
  readonly #index: IndexSource;
  #list: readonly BalancedEndpoint[] = [];

  constructor(field: string, random: Random | undefined) {
    this.#index = indexSource(
      random === undefined ? undefined : checkFunction<Random>(`${field}.random`, random),
    );
  }

  update(endpoints: readonly BalancedEndpoint[]): void {
    this.#list = endpoints;
  }

  /** Whether `b` is cheaper than `a`. A method per subclass (not a stored function) so it inlines. */
  protected abstract cheaper(b: BalancedEndpoint, a: BalancedEndpoint): boolean;

  pick(_req?: unknown, ctx?: CallContext): BalancedEndpoint | undefined {
    const list = this.#list;
    const n = list.length;
    if (n < 2) return list[0];
    const i = this.#index.next(n);
    // A second index drawn from the other n-1 slots: always distinct, no retry loop.
    let j = this.#index.next(n - 1);
    if (j >= i) j++;
    const a = list[i]!;
    const b = list[j]!;
    const bWins = this.cheaper(b, a);
    // A retry takes the other candidate when the cheaper one already failed this call and the other
    // did not (Envoy's previous_hosts retry predicate): a lone slow or failing endpoint is not retried.
    if (ctx !== undefined && ctx.attempt > 1) {
      const avoid = ctx.get(previousEndpoints);
      if (avoid?.includes(bWins ? b.id : a.id) && !avoid.includes(bWins ? a.id : b.id)) {
        return bWins ? a : b;
      }
    }
    return bWins ? b : a;
  }
}

class LeastRequest extends PowerOfTwo {
  readonly name = 'least-request';
  protected cheaper(b: BalancedEndpoint, a: BalancedEndpoint): boolean {
    return b.inFlight < a.inFlight;
  }
}

class PeakEwmaP2C extends PowerOfTwo {
  readonly name = 'p2c-ewma';
  protected cheaper(b: BalancedEndpoint, a: BalancedEndpoint): boolean {
    return b.load() < a.load();
  }
}

/**
 * Least request: P2C on in-flight calls. Good when calls cost about the same everywhere.
 *
 * @example
 * ```ts
 * import { httpTransport } from '@meshkit/http';
 * const endpoints = [{ id: 'users-1', address: '10.0.0.7:8080' }, { id: 'users-2', address: '10.0.0.8:8080' }];
 * balance({ service: 'users', endpoints, connect: (e) => httpTransport(e.address), picker: leastRequest() });
 * ```
 */
export function leastRequest(options: RandomOptions = {}): Picker {
  return new LeastRequest('leastRequest', options.random);
}

/**
 * P2C + peak EWMA, the default: P2C on each endpoint's `load()`, which the balancer computes as peak-EWMA
 * latency times (in-flight + 1). A slow or overloaded endpoint gets little traffic until its estimate
 * decays, then is probed again.
 *
 * @example
 * ```ts
 * import { httpTransport } from '@meshkit/http';
 * const endpoints = [{ id: 'users-1', address: '10.0.0.7:8080' }, { id: 'users-2', address: '10.0.0.8:8080' }];
 * balance({ service: 'users', endpoints, connect: (e) => httpTransport(e.address), picker: p2cPeakEwma() });
 * ```
 */
export function p2cPeakEwma(options: RandomOptions = {}): Picker {
  return new PeakEwmaP2C('p2cPeakEwma', options.random);
}
