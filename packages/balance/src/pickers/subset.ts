import { type CallContext, checkFunction, InvalidArgumentError } from '@meshkit/core';
import { type BalancedEndpoint, type Picker, type PickerFactory, subsetLabels } from '../picker.ts';
import { p2cPeakEwma } from './p2c.ts';

type Labels = Readonly<Record<string, string>>;

/** Options for {@link subset}. */
export interface SubsetOptions<Req> {
  /**
   * The labels a call's endpoint must carry: a fixed set (`{ version: 'v2' }`) or a function of the
   * call. Defaults to the context's {@link subsetLabels} slot (set by routing). `undefined` or `{}` means
   * every endpoint.
   */
  readonly select?: Labels | ((req: Req, ctx: CallContext) => Labels | undefined);
  /** Builds the picker used inside each subset. Defaults to {@link p2cPeakEwma}. */
  readonly picker?: PickerFactory<Req>;
  /**
   * What to do when no endpoint matches: `none` (the default) makes the call fail with
   * `ERR_NO_ENDPOINT`; `any` falls back to every endpoint.
   */
  readonly fallback?: 'none' | 'any';
}

interface Group<Req> {
  readonly labels: Labels;
  readonly picker: Picker<Req>;
  dirty: boolean;
  size: number;
}

/**
 * Label subsets (Envoy's subset load balancer, Istio's `DestinationRule` subsets): each call goes only to
 * endpoints whose labels include the selected ones, balanced by its own inner picker. One inner picker
 * per distinct selection is built on first use and refreshed lazily when the endpoint set changes.
 *
 * @example
 * ```ts
 * import { createContext } from '@meshkit/core';
 * import { httpTransport } from '@meshkit/http';
 * const endpoints = [
 *   { id: 'users-1', address: '10.0.0.7:8080', labels: { version: 'v1' } },
 *   { id: 'users-2', address: '10.0.0.8:8080', labels: { version: 'v2' } },
 * ];
 * const connect = (e: { address: string }) => httpTransport(e.address);
 * // every call to the v2 canary
 * balance({ service: 'users', endpoints, connect, picker: subset({ select: { version: 'v2' } }) });
 * // per call, from the routing layer
 * const users = balance({ service: 'users', endpoints, connect, picker: subset() });
 * await users({ method: 'GET', path: '/users/42' }, createContext().set(subsetLabels, { version: 'v2' }));
 * ```
 */
export function subset<Req = unknown>(options: SubsetOptions<Req> = {}): Picker<Req> {
  return new Subset(options);
}

const fromContext = (_req: unknown, ctx: CallContext): Labels | undefined => ctx.get(subsetLabels);

class Subset<Req> implements Picker<Req> {
  readonly name: string;
  readonly #select: (req: Req, ctx: CallContext) => Labels | undefined;
  readonly #factory: PickerFactory<Req>;
  readonly #fallbackAny: boolean;
  readonly #groups = new Map<string, Group<Req>>();
  // Routing hands the same frozen label object to every call of a route: finding its group by identity
  // skips building the key string, so the common pick allocates nothing.
  readonly #byObject = new WeakMap<Labels, Group<Req>>();
  #lastLabels: Labels | undefined;
  #lastGroup: Group<Req> | undefined;
  readonly #all: Picker<Req>;
  #list: readonly BalancedEndpoint[] = [];

  constructor(options: SubsetOptions<Req>) {
    const select = options.select ?? fromContext;
    if (typeof select === 'object') {
      const fixed = Object.freeze({ ...select });
      this.#select = () => fixed;
    } else {
      this.#select = checkFunction('subset.select', select);
    }
    this.#factory = checkFunction('subset.picker', options.picker ?? (() => p2cPeakEwma() as Picker<Req>));
    const fallback = options.fallback ?? 'none';
    if (fallback !== 'none' && fallback !== 'any') {
      throw new InvalidArgumentError('subset.fallback', 'must be "none" or "any"', fallback);
    }
    this.#fallbackAny = fallback === 'any';
    this.#all = this.#factory();
    this.name = `subset(${this.#all.name})`;
  }

  update(endpoints: readonly BalancedEndpoint[]): void {
    this.#list = endpoints;
    this.#all.update(endpoints);
    for (const group of this.#groups.values()) group.dirty = true;
  }

  pick(req: Req, ctx: CallContext): BalancedEndpoint | undefined {
    const labels = this.#select(req, ctx);
    if (labels === undefined) return this.#all.pick(req, ctx);
    // The hot path is one comparison; finding or building a group lives in its own method so the
    // first pick of a new selection leaves no slow-path feedback in this one.
    const group = labels === this.#lastLabels ? this.#lastGroup : this.#groupFor(labels);
    if (group === undefined) return this.#all.pick(req, ctx);
    if (group.dirty) this.#refresh(group);
    if (group.size === 0) return this.#fallbackAny ? this.#all.pick(req, ctx) : undefined;
    return group.picker.pick(req, ctx);
  }

  /** The group for a selection, built on first use; `undefined` for an empty selection (every endpoint). */
  #groupFor(labels: Labels): Group<Req> | undefined {
    let group = this.#byObject.get(labels);
    if (group === undefined) {
      const key = labelKey(labels);
      if (key === '') return undefined;
      group = this.#groups.get(key);
      if (group === undefined) {
        group = { labels: Object.freeze({ ...labels }), picker: this.#factory(), dirty: true, size: 0 };
        this.#groups.set(key, group);
      }
      this.#byObject.set(labels, group);
    }
    this.#lastLabels = labels;
    this.#lastGroup = group;
    return group;
  }

  #refresh(group: Group<Req>): void {
    const members = this.#list.filter((e) => matches(e, group.labels));
    group.picker.update(members);
    group.size = members.length;
    group.dirty = false;
  }
}

function matches(endpoint: BalancedEndpoint, labels: Labels): boolean {
  for (const key in labels) if (endpoint.labels[key] !== labels[key]) return false;
  return true;
}

/** A canonical string for a label selection; `k=v` pairs sorted by key. */
function labelKey(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 1) return `${keys[0]}=${labels[keys[0]!]}`;
  return keys
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}
