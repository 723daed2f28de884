import { type CallContext, checkFunction, checkInteger } from '@meshkit/core';
import { type BalancedEndpoint, hashKey, type Picker, type Random } from '../picker.ts';
import { hash32 } from './hash.ts';

/** Where a consistent-hashing picker reads the request key. */
export interface HashKeyOptions<Req> {
  /**
   * The key of a call (user id, session cookie, ...). Defaults to the context's {@link hashKey} slot.
   * Calls without a key go to a random endpoint.
   */
  readonly key?: (req: Req, ctx: CallContext) => string | undefined;
  /** Random source for calls without a key. Defaults to `Math.random`. */
  readonly random?: Random;
}

/** Options for {@link ringHash}. */
export interface RingHashOptions<Req> extends HashKeyOptions<Req> {
  /**
   * Points each endpoint owns on the ring per unit of weight (at least one point each). Fixed per
   * endpoint, not derived from the set's size, so a join or leave moves no key between the others.
   * Defaults to 128.
   */
  readonly pointsPerWeight?: number;
}

const defaultKey = (_req: unknown, ctx: CallContext): string | undefined => ctx.get(hashKey);

/**
 * Ring hash (Karger; Envoy's `RING_HASH`): each endpoint owns points on a 32-bit ring in proportion to
 * its weight; a key goes to the first point at or after its hash. When one of N endpoints joins or
 * leaves, only about 1/N of the keys move.
 *
 * @example
 * ```ts
 * import { type HttpRequest, httpTransport } from '@meshkit/http';
 * balance({
 *   service: 'carts',
 *   endpoints: [{ id: 'carts-1', address: '10.0.0.7:8080' }, { id: 'carts-2', address: '10.0.0.8:8080' }],
 *   connect: (endpoint) => httpTransport(endpoint.address),
 *   picker: ringHash({ key: (req: HttpRequest) => req.headers?.['x-user-id'] }),
 * });
 * ```
 */
export function ringHash<Req = unknown>(options: RingHashOptions<Req> = {}): Picker<Req> {
  return new RingHash(options);
}

class RingHash<Req> implements Picker<Req> {
  readonly name = 'ring-hash';
  readonly #key: (req: Req, ctx: CallContext) => string | undefined;
  readonly #random: Random;
  readonly #pointsPerWeight: number;
  #list: readonly BalancedEndpoint[] = [];
  #points = new Uint32Array(0);
  #owners: BalancedEndpoint[] = [];

  constructor(options: RingHashOptions<Req>) {
    this.#key = checkFunction('ringHash.key', options.key ?? defaultKey);
    this.#random = checkFunction('ringHash.random', options.random ?? Math.random);
    this.#pointsPerWeight = checkInteger(
      'ringHash.pointsPerWeight',
      options.pointsPerWeight ?? 128,
      1,
      65_536,
    );
  }

  update(endpoints: readonly BalancedEndpoint[]): void {
    this.#list = endpoints;
    const total = endpoints.reduce((sum, e) => sum + e.weight, 0) * this.#pointsPerWeight;
    // Only a ring beyond Envoy's 8M-point cap is scaled down (and then loses the no-reshuffle property).
    const scale = total > 8_388_608 ? 8_388_608 / total : 1;
    const entries: { point: number; owner: BalancedEndpoint }[] = [];
    for (const e of endpoints) {
      const count = Math.max(1, Math.round(e.weight * this.#pointsPerWeight * scale));
      for (let i = 0; i < count; i++) entries.push({ point: hash32(`${e.id}_${i}`), owner: e });
    }
    // Ties (two points with one hash) resolve by id so every process builds the same ring.
    entries.sort((a, b) => a.point - b.point || (a.owner.id < b.owner.id ? -1 : 1));
    this.#points = Uint32Array.from(entries, (x) => x.point);
    this.#owners = entries.map((x) => x.owner);
  }

  pick(req: Req, ctx: CallContext): BalancedEndpoint | undefined {
    const n = this.#points.length;
    if (n === 0) return undefined;
    const key = this.#key(req, ctx);
    if (key === undefined) return this.#list[Math.floor(this.#random() * this.#list.length)];
    const h = hash32(key);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === n ? 0 : lo];
  }
}
