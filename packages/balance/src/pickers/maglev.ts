import { type CallContext, checkFunction, checkInteger, InvalidArgumentError } from '@meshkit/core';
import { type BalancedEndpoint, hashKey, type Picker, type Random } from '../picker.ts';
import { hash32 } from './hash.ts';
import type { HashKeyOptions } from './ring-hash.ts';

/** Options for {@link maglev}. */
export interface MaglevOptions<Req> extends HashKeyOptions<Req> {
  /** Lookup table size; must be prime and much larger than the endpoint count. Defaults to 65,537. */
  readonly tableSize?: number;
}

const defaultKey = (_req: unknown, ctx: CallContext): string | undefined => ctx.get(hashKey);

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/**
 * Maglev consistent hashing (Google's Maglev paper; Envoy's `MAGLEV`): a fixed lookup table filled from
 * each endpoint's own permutation, so picks are one table read and keys spread almost perfectly evenly.
 * A join or leave moves a little more than ring hash's 1/N of keys. Weights are honoured by letting
 * heavier endpoints take proportionally more turns while the table fills.
 *
 * @example
 * ```ts
 * import { type HttpRequest, httpTransport } from '@meshkit/http';
 * balance({
 *   service: 'carts',
 *   endpoints: [{ id: 'carts-1', address: '10.0.0.7:8080' }, { id: 'carts-2', address: '10.0.0.8:8080' }],
 *   connect: (endpoint) => httpTransport(endpoint.address),
 *   picker: maglev({ key: (req: HttpRequest) => req.headers?.['x-user-id'] }),
 * });
 * ```
 */
export function maglev<Req = unknown>(options: MaglevOptions<Req> = {}): Picker<Req> {
  return new Maglev(options);
}

class Maglev<Req> implements Picker<Req> {
  readonly name = 'maglev';
  readonly #key: (req: Req, ctx: CallContext) => string | undefined;
  readonly #random: Random;
  readonly #size: number;
  #list: readonly BalancedEndpoint[] = [];
  #table = new Int32Array(0);

  constructor(options: MaglevOptions<Req>) {
    this.#key = checkFunction('maglev.key', options.key ?? defaultKey);
    this.#random = checkFunction('maglev.random', options.random ?? Math.random);
    const size = checkInteger('maglev.tableSize', options.tableSize ?? 65_537, 3, 5_000_011);
    if (!isPrime(size)) throw new InvalidArgumentError('maglev.tableSize', 'must be a prime number', size);
    this.#size = size;
  }

  update(endpoints: readonly BalancedEndpoint[]): void {
    // Sort by id so every process fills the table identically whatever order discovery delivered.
    const list = [...endpoints].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.#list = list;
    const m = this.#size;
    const table = new Int32Array(m).fill(-1);
    const n = list.length;
    if (n > 0) {
      const offset = list.map((e) => hash32(e.id, 0x9e3779b9) % m);
      const skip = list.map((e) => (hash32(e.id, 0x85ebca6b) % (m - 1)) + 1);
      const next = new Array<number>(n).fill(0);
      const maxWeight = Math.max(...list.map((e) => e.weight));
      const credit = new Array<number>(n).fill(0);
      let filled = 0;
      while (filled < m) {
        for (let i = 0; i < n && filled < m; i++) {
          credit[i]! += list[i]!.weight / maxWeight;
          if (credit[i]! < 1) continue;
          credit[i]! -= 1;
          let slot = (offset[i]! + next[i]! * skip[i]!) % m;
          while (table[slot] !== -1) {
            next[i]!++;
            slot = (offset[i]! + next[i]! * skip[i]!) % m;
          }
          table[slot] = i;
          next[i]!++;
          filled++;
        }
      }
    }
    this.#table = table;
  }

  pick(req: Req, ctx: CallContext): BalancedEndpoint | undefined {
    const n = this.#list.length;
    if (n === 0) return undefined;
    const key = this.#key(req, ctx);
    if (key === undefined) return this.#list[Math.floor(this.#random() * n)];
    return this.#list[this.#table[hash32(key) % this.#size]!];
  }
}
