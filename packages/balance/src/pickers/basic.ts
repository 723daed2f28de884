import { type CallContext, checkFunction } from '@meshkit/core';
import { type BalancedEndpoint, type IndexSource, indexSource, type Picker, type Random } from '../picker.ts';

/**
 * The pickers that need no per-endpoint tables: round robin and random.
 */

/** Options shared by pickers that draw random numbers. */
export interface RandomOptions {
  /** Uniform random source in [0, 1). Defaults to a fast internal xorshift generator seeded from `Math.random`. */
  readonly random?: Random;
}

/**
 * Real round robin: each call goes to the next endpoint in turn. When the set changes, the turn carries
 * on after the endpoint picked last (if it is still there), so a join or leave neither restarts the
 * order at the first endpoint nor skips anyone.
 *
 * @example
 * ```ts
 * balance({ service: 'users', endpoints, connect, picker: roundRobin() });
 * ```
 */
export function roundRobin(): Picker {
  return new RoundRobin();
}

class RoundRobin implements Picker {
  readonly name = 'round-robin';
  #list: readonly BalancedEndpoint[] = [];
  #next = 0;
  #last: BalancedEndpoint | undefined;

  update(endpoints: readonly BalancedEndpoint[]): void {
    const previous = this.#list;
    this.#list = endpoints;
    if (endpoints.length === 0 || this.#last === undefined) {
      this.#next = 0;
      return;
    }
    // Continue after the last endpoint picked; if it left, after the first survivor that followed it.
    const position = new Map(endpoints.map((e, i) => [e.id, i]));
    const from = Math.max(0, previous.indexOf(this.#last));
    for (let k = 0; k < previous.length; k++) {
      const at = position.get(previous[(from + k) % previous.length]!.id);
      if (at !== undefined) {
        this.#next = k === 0 ? at + 1 : at;
        return;
      }
    }
    this.#next = 0;
  }

  pick(): BalancedEndpoint | undefined {
    const list = this.#list;
    const n = list.length;
    if (n === 0) return undefined;
    if (this.#next >= n) this.#next = 0;
    const chosen = list[this.#next++]!;
    this.#last = chosen;
    return chosen;
  }
}

/**
 * Uniform random choice.
 *
 * @example
 * ```ts
 * balance({ service: 'users', endpoints, connect, picker: random() });
 * ```
 */
export function random(options: RandomOptions = {}): Picker {
  return new RandomPicker(options.random);
}

class RandomPicker implements Picker {
  readonly name = 'random';
  readonly #index: IndexSource;
  #list: readonly BalancedEndpoint[] = [];

  constructor(random: Random | undefined) {
    this.#index = indexSource(
      random === undefined ? undefined : checkFunction<Random>('random.random', random),
    );
  }

  update(endpoints: readonly BalancedEndpoint[]): void {
    this.#list = endpoints;
  }

  pick(_req?: unknown, _ctx?: CallContext): BalancedEndpoint | undefined {
    const n = this.#list.length;
    return n === 0 ? undefined : this.#list[this.#index.next(n)];
  }
}

/**
 * Smooth weighted round robin (nginx): over any window of `sum(weights)` calls each endpoint gets
 * exactly its weight's share, spread out rather than in bursts (weights 5,1,1 give a a b a c a a, not
 * a a a a a b c). Endpoint weights come from the registry (`weight`, default 1).
 *
 * @example
 * ```ts
 * balance({ service: 'users', endpoints, connect, picker: weightedRoundRobin() });
 * ```
 */
export function weightedRoundRobin(): Picker {
  return new SmoothWeighted();
}

class SmoothWeighted implements Picker {
  readonly name = 'weighted-round-robin';
  #list: readonly BalancedEndpoint[] = [];
  #current = new Float64Array(0);
  #total = 0;

  update(endpoints: readonly BalancedEndpoint[]): void {
    // Carry each survivor's running weight over so a set change does not reset the rotation.
    const previous = new Map(this.#list.map((e, i) => [e.id, this.#current[i]!]));
    this.#list = endpoints;
    this.#current = new Float64Array(endpoints.length);
    this.#total = 0;
    for (const [i, e] of endpoints.entries()) {
      this.#current[i] = previous.get(e.id) ?? 0;
      this.#total += e.weight;
    }
  }

  pick(): BalancedEndpoint | undefined {
    const list = this.#list;
    const current = this.#current;
    let best = -1;
    for (let i = 0; i < list.length; i++) {
      current[i]! += list[i]!.weight;
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    if (best < 0) return undefined;
    current[best]! -= this.#total;
    return list[best];
  }
}
