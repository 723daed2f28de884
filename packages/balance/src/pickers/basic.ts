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
 * import { httpTransport } from '@meshkit/http';
 * const endpoints = [{ id: 'users-1', address: '10.0.0.7:8080' }, { id: 'users-2', address: '10.0.0.8:8080' }];
 * balance({ service: 'users', endpoints, connect: (e) => httpTransport(e.address), picker: roundRobin() });
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
 * import { httpTransport } from '@meshkit/http';
 * const endpoints = [{ id: 'users-1', address: '10.0.0.7:8080' }, { id: 'users-2', address: '10.0.0.8:8080' }];
 * balance({ service: 'users', endpoints, connect: (e) => httpTransport(e.address), picker: random() });
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
 * Weighted round robin by earliest deadline first (Envoy's and gRPC's scheduler): each endpoint is due
 * every `1 / weight` turns of a virtual clock, and the earliest due goes next. Over any window each
 * endpoint gets its weight's share to within one call, spread out rather than in bursts (weights 5,1,1
 * give a a a b c a a), at O(log n) per pick. Endpoint weights come from the registry (`weight`,
 * default 1); a set change keeps every survivor's place in the rotation.
 *
 * @example
 * ```ts
 * import { httpTransport } from '@meshkit/http';
 * const endpoints = [{ id: 'users-1', address: '10.0.0.7:8080' }, { id: 'users-2', address: '10.0.0.8:8080' }];
 * balance({ service: 'users', endpoints, connect: (e) => httpTransport(e.address), picker: weightedRoundRobin() });
 * ```
 */
export function weightedRoundRobin(): Picker {
  return new EarliestDeadline();
}

class EarliestDeadline implements Picker {
  readonly name = 'weighted-round-robin';
  #list: readonly BalancedEndpoint[] = [];
  #due = new Float64Array(0);
  #heap = new Int32Array(0);
  #now = 0;

  update(endpoints: readonly BalancedEndpoint[]): void {
    const previous = new Map(this.#list.map((e, i) => [e.id, this.#due[i]! - this.#now]));
    const n = endpoints.length;
    this.#list = endpoints;
    this.#due = new Float64Array(n);
    this.#heap = new Int32Array(n);
    this.#now = 0;
    for (let i = 0; i < n; i++) {
      const e = endpoints[i]!;
      // Newcomers start half a period in, so equal weights interleave instead of queuing behind each other.
      this.#due[i] = Math.max(0, previous.get(e.id) ?? 1 / (2 * e.weight));
      this.#heap[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  pick(): BalancedEndpoint | undefined {
    if (this.#list.length === 0) return undefined;
    const i = this.#heap[0]!;
    const e = this.#list[i]!;
    this.#now = this.#due[i]!;
    this.#due[i] = this.#now + 1 / e.weight;
    this.#down(0);
    return e;
  }

  /** `a` is due before `b`; ties go to the lower index so every process rotates identically. */
  #before(a: number, b: number): boolean {
    const da = this.#due[a]!;
    const db = this.#due[b]!;
    return da < db || (da === db && a < b);
  }

  #down(at: number): void {
    const heap = this.#heap;
    const n = heap.length;
    let i = at;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const child = r < n && this.#before(heap[r]!, heap[l]!) ? r : l;
      if (!this.#before(heap[child]!, heap[i]!)) return;
      const t = heap[i]!;
      heap[i] = heap[child]!;
      heap[child] = t;
      i = child;
    }
  }
}
