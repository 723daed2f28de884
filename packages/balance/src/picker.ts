import { type CallContext, contextKey, type Endpoint } from '@meshkit/core';

/**
 * The picker contract: a small strategy object that chooses one endpoint per call. The balancer owns
 * everything else (which endpoints are eligible, load tracking, outlier ejection, health); a picker only
 * sees the eligible list and chooses.
 */

/** An endpoint as pickers see it: the core {@link Endpoint} plus its live in-flight count. */
export interface BalancedEndpoint extends Endpoint {
  /** Calls sent to this endpoint that have not finished. */
  readonly inFlight: number;
}

/**
 * Chooses an endpoint for each call.
 *
 * The balancer calls `update` with the eligible endpoints (not ejected, not unhealthy) whenever that
 * list changes, and `pick` for every call. A picker holds per-balancer state (a counter, a ring), so
 * each `balance()` needs its own picker instance. `pick` is on the hot path: it must not allocate.
 *
 * @example
 * ```ts
 * class FirstPicker implements Picker {
 *   readonly name = 'first';
 *   #list: readonly BalancedEndpoint[] = [];
 *   update(endpoints: readonly BalancedEndpoint[]) { this.#list = endpoints; }
 *   pick() { return this.#list[0]; }
 * }
 * ```
 */
export interface Picker<Req = unknown> {
  /** Shown by `describe()`, the CLI and the benchmark, e.g. `p2c-ewma`. */
  readonly name: string;
  /** The eligible endpoints changed. The array is not mutated afterwards; keep it. */
  update(endpoints: readonly BalancedEndpoint[]): void;
  /** One endpoint from the last `update`, or `undefined` when none fits (empty list, no subset match). */
  pick(req: Req, ctx: CallContext): BalancedEndpoint | undefined;
}

/** Something that builds a fresh picker: subsets and per-call routing need one picker per group. */
export type PickerFactory<Req = unknown> = () => Picker<Req>;

/**
 * The request key for consistent hashing ({@link ringHash}, {@link maglev}) when no `key` function is
 * given: routing and transports set it from a header (`x-user-id`, a cookie) or a business key.
 *
 * @example
 * ```ts
 * import { createContext, type Service } from '@meshkit/core';
 * declare const carts: Service<{ userId: string }, unknown>;
 * const req = { userId: 'u-42' };
 * await carts(req, createContext().set(hashKey, req.userId));
 * ```
 */
export const hashKey = contextKey<string>('meshkit.balance.hashKey');

/**
 * The label subset a call must go to (e.g. `{ version: 'v2' }`), read by {@link subset} when no
 * `select` is given. The routing layer sets it from a `DestinationRule` subset.
 */
export const subsetLabels = contextKey<Readonly<Record<string, string>>>('meshkit.balance.subset');

/** A uniform random number in [0, 1); injectable so tests and simulations are reproducible. */
export type Random = () => number;

/**
 * A fast uniform integer source for pickers: `next(n)` returns an integer in [0, n). With no `random`
 * option it is xorshift32 on an integer state (seeded from `Math.random`), which keeps `pick()` free of
 * floating-point boxing and so free of allocation; with one, it scales the caller's `random()`.
 */
export interface IndexSource {
  next(n: number): number;
}

class XorShift implements IndexSource {
  #state: number;
  constructor() {
    this.#state = (Math.floor(Math.random() * 0x7fffffff) | 1) >>> 0;
  }
  next(n: number): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x | 0;
    return (x >>> 0) % n;
  }
}

class Scaled implements IndexSource {
  readonly #random: Random;
  constructor(random: Random) {
    this.#random = random;
  }
  next(n: number): number {
    return Math.floor(this.#random() * n);
  }
}

/** The index source for `random` (see {@link IndexSource}). */
export function indexSource(random: Random | undefined): IndexSource {
  return random === undefined ? new XorShift() : new Scaled(random);
}
