import {
  abortError,
  type CallContext,
  type Clock,
  type Endpoint,
  type EndpointInit,
  ErrorCode,
  InvalidArgumentError,
  MeshError,
  type TimerHandle,
} from '@meshkit/core';
import { checkFunction } from '@meshkit/core/internal';
import type { HealthChecker } from './health-check.ts';
import type { Picker } from './picker.ts';
import { type EndpointService, type TimeCell, TrackedEndpoint } from './tracked.ts';

/** Why no endpoint could take a call; `details.reason` of `ERR_NO_ENDPOINT`. */
export type NoEndpointReason =
  | 'none-registered'
  | 'discovery-pending'
  | 'discovery-failed'
  | 'all-rejected'
  | 'all-unhealthy'
  | 'all-ejected'
  | 'all-unavailable'
  | 'all-closed'
  | 'no-match';

/** What an {@link EndpointSet} needs from its balancer; every value already validated. */
export interface EndpointSetParts<Req, Res> {
  /** The service's name, for errors. */
  readonly name: string;
  readonly connect: (endpoint: Endpoint) => EndpointService<Req, Res>;
  /** Told whenever the eligible list changes. */
  readonly picker: Picker<Req>;
  readonly checker: HealthChecker | undefined;
  readonly clock: Clock;
  /** The balancer's clock reading, shared with every endpoint it creates. */
  readonly time: TimeCell;
  /** Below this percentage of usable endpoints every endpoint is used; 0 turns it off. */
  readonly panicPercent: number;
  readonly initialRttMs: number;
  readonly decayMs: number;
  /** How long a call waits for the first set, in ms. */
  readonly discoveryTimeoutMs: number;
  /** Called for every endpoint that leaves the set (or the balancer closes), after it is marked removed. */
  readonly retired: (endpoint: TrackedEndpoint<Req, Res>) => void;
}

/**
 * A balancer's endpoints: takes whole sets from a fixed list or from discovery, connects new endpoints
 * and retires removed ones, keeps the eligible list (healthy and not ejected, or every endpoint in panic
 * mode) for the picker, lets calls wait for discovery's first set, and remembers discovery's errors.
 */
export class EndpointSet<Req, Res> {
  readonly #parts: EndpointSetParts<Req, Res>;
  #all: TrackedEndpoint<Req, Res>[] = [];
  #eligible: readonly TrackedEndpoint<Req, Res>[] = [];
  #panic = false;
  #hasSet = false;
  readonly #firstSet: Promise<void>;
  #resolveFirst!: () => void;
  #discoveryError: unknown;
  /** The last set was not empty, yet none of its entries could be used. */
  #rejectedAll = false;
  #iterator: AsyncIterator<readonly EndpointInit[]> | undefined;
  #source: unknown;
  #closed = false;

  constructor(parts: EndpointSetParts<Req, Res>) {
    this.#parts = parts;
    this.#firstSet = new Promise<void>((resolve) => {
      this.#resolveFirst = resolve;
    });
  }

  /** Every current endpoint, eligible or not. */
  get all(): readonly TrackedEndpoint<Req, Res>[] {
    return this.#all;
  }

  /** The endpoints the picker chooses among. */
  get eligible(): readonly TrackedEndpoint<Req, Res>[] {
    return this.#eligible;
  }

  /** Whether too few endpoints are usable and every endpoint is eligible. */
  get panic(): boolean {
    return this.#panic;
  }

  /** Whether a first set has been taken. */
  get hasSet(): boolean {
    return this.#hasSet;
  }

  /** The last discovery error (a failed stream, or an entry that could not be used), if any. */
  get discoveryError(): unknown {
    return this.#discoveryError;
  }

  /** Takes `source` (`balance()`'s `endpoints` option): a fixed list now, or a stream as it delivers. */
  start(source: unknown): void {
    this.#source = source;
    if (Array.isArray(source)) {
      // A fixed list is the caller's own configuration: an entry that cannot be used fails here.
      this.#apply(source, true);
    } else if (source !== null && typeof source === 'object' && Symbol.asyncIterator in source) {
      void this.#follow(source as AsyncIterable<readonly EndpointInit[]>);
    } else {
      throw new InvalidArgumentError(
        'balance.endpoints',
        'must be an array or an async iterable of arrays',
        source,
      );
    }
  }

  async #follow(source: AsyncIterable<readonly EndpointInit[]>): Promise<void> {
    try {
      this.#iterator = source[Symbol.asyncIterator]();
      for (;;) {
        const next = await this.#iterator.next();
        if (next.done || this.#closed) break;
        this.#discoveryError = undefined;
        this.#apply(next.value);
      }
    } catch (err) {
      // Keep serving the last known set: a registry outage should not take every endpoint away.
      this.#discoveryError = err;
      if (!this.#hasSet) this.#resolveFirst();
    }
  }

  /**
   * Takes a new endpoint set. With `strict` (a fixed list given at construction) an entry that cannot be
   * used throws, naming it; from discovery it is skipped and remembered (`describe().discoveryError`, and
   * the reason `all-rejected` when no entry of a non-empty set could be used).
   */
  #apply(set: readonly EndpointInit[], strict = false): void {
    if (this.#closed) return;
    const parts = this.#parts;
    const reject = (index: number, init: EndpointInit | undefined, error: unknown): void => {
      if (strict) {
        const message = error instanceof Error ? error.message : String(error);
        throw new InvalidArgumentError(
          `balance.endpoints[${index}]`,
          `cannot be used: ${message}`,
          init?.address ?? init,
        );
      }
      this.#discoveryError = error;
    };
    this.#rejectedAll = false;
    const wanted = new Map<
      string,
      { id: string; address: string; labels: Readonly<Record<string, string>>; weight: number }
    >();
    const indexOf = new Map<string, number>();
    for (const [index, init] of set.entries()) {
      if (
        typeof init?.id !== 'string' ||
        init.id === '' ||
        typeof init.address !== 'string' ||
        init.address === ''
      ) {
        reject(
          index,
          init,
          new InvalidArgumentError('balance.endpoints', 'entries need a non-empty id and address', init?.id),
        );
        continue;
      }
      indexOf.set(init.id, index);
      const weight = init.weight ?? 1;
      wanted.set(init.id, {
        id: init.id,
        address: init.address,
        labels: Object.freeze({ ...init.labels }),
        weight: Number.isFinite(weight) && weight > 0 ? weight : 1,
      });
    }
    const next: TrackedEndpoint<Req, Res>[] = [];
    const kept = new Set<TrackedEndpoint<Req, Res>>();
    for (const e of this.#all) {
      const w = wanted.get(e.id);
      if (
        w !== undefined &&
        w.address === e.address &&
        w.weight === e.weight &&
        sameLabels(w.labels, e.labels)
      ) {
        next.push(e);
        kept.add(e);
        wanted.delete(e.id);
      }
    }
    for (const e of this.#all) if (!kept.has(e)) this.#retire(e);
    for (const w of wanted.values()) {
      const e = new TrackedEndpoint<Req, Res>(w, parts.time, parts.initialRttMs, parts.decayMs);
      try {
        e.service = parts.connect(e);
        checkFunction('balance.connect(endpoint)', e.service);
      } catch (err) {
        // One endpoint that cannot be connected must not keep the others out of the set.
        reject(indexOf.get(w.id) ?? -1, w, err);
        continue;
      }
      next.push(e);
      parts.checker?.add(e);
    }
    this.#all = next;
    this.#rejectedAll = next.length === 0 && set.length > 0;
    this.rebuild();
    if (!this.#hasSet) {
      this.#hasSet = true;
      this.#resolveFirst();
    }
  }

  #retire(e: TrackedEndpoint<Req, Res>): void {
    e.removed = true;
    this.#parts.checker?.remove(e);
    this.#parts.retired(e);
    try {
      void Promise.resolve(e.service.close?.()).catch(() => {});
    } catch {
      // A transport that fails to close must not stop the set from updating.
    }
  }

  /** Recomputes the eligible list and tells the picker when it changed. */
  rebuild(): void {
    const all = this.#all;
    const panicPercent = this.#parts.panicPercent;
    const healthy = all.filter((e) => e.healthy && !e.outlier.ejected);
    const panic = all.length > 0 && panicPercent > 0 && healthy.length * 100 < panicPercent * all.length;
    const eligible = panic ? all : healthy;
    this.#panic = panic;
    if (eligible.length === this.#eligible.length && eligible.every((e, i) => e === this.#eligible[i]))
      return;
    this.#eligible = eligible;
    this.#parts.picker.update(eligible);
  }

  /**
   * Waits for the first set, at most `discoveryTimeoutMs` and the call's remaining time; `false` when
   * that ran out first. Rejects when `ctx` is aborted.
   */
  async waitForFirstSet(ctx: CallContext): Promise<boolean> {
    if (ctx.aborted) throw abortError(ctx.abortReason);
    const clock = this.#parts.clock;
    let timer: TimerHandle | undefined;
    let unlisten: (() => void) | undefined;
    return Promise.race([
      this.#firstSet.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = clock.setTimeout(
          () => resolve(false),
          Math.min(this.#parts.discoveryTimeoutMs, ctx.remainingMs()),
          // The call waits on this timer (no socket is open yet): it keeps the process alive.
          { ref: true },
        );
      }),
      new Promise<boolean>((_, reject) => {
        // `onAbort`, not `ctx.signal`: no signal is built, and the listener is removed when the wait
        // ends, so a long-lived caller context does not collect one per call made during discovery.
        unlisten = ctx.onAbort((reason) => reject(abortError(reason)));
      }),
    ]).finally(() => {
      if (timer !== undefined) clock.clearTimeout(timer);
      unlisten?.();
    });
  }

  /** Why the eligible list is empty. */
  emptyReason(): NoEndpointReason {
    const all = this.#all;
    if (all.length === 0) {
      if (this.#rejectedAll) return 'all-rejected';
      if (this.#discoveryError !== undefined) return 'discovery-failed';
      return this.#hasSet ? 'none-registered' : 'discovery-pending';
    }
    const unhealthy = all.filter((e) => !e.healthy).length;
    const ejected = all.filter((e) => e.outlier.ejected).length;
    if (unhealthy === all.length) return 'all-unhealthy';
    if (ejected === all.length) return 'all-ejected';
    return 'all-unavailable';
  }

  /** The `ERR_NO_ENDPOINT` error for `reason`, with the set's counts and discovery's error as cause. */
  noEndpoint(reason: NoEndpointReason): MeshError {
    const all = this.#all;
    const name = this.#parts.name;
    const unhealthy = all.filter((e) => !e.healthy).length;
    const ejected = all.filter((e) => e.outlier.ejected).length;
    const why: Record<NoEndpointReason, string> = {
      'none-registered': 'no endpoint is registered',
      'discovery-pending': `discovery has not delivered endpoints within ${this.#parts.discoveryTimeoutMs} ms`,
      'discovery-failed': `discovery failed: ${String((this.#discoveryError as Error)?.message ?? this.#discoveryError)}`,
      'all-rejected': `discovery delivered endpoints but none could be used: ${String((this.#discoveryError as Error)?.message ?? this.#discoveryError)}`,
      'all-unhealthy': `all ${all.length} endpoints are unhealthy`,
      'all-ejected': `all ${all.length} endpoints are ejected by outlier detection`,
      'all-unavailable': `none of ${all.length} endpoints is available (${unhealthy} unhealthy, ${ejected} ejected)`,
      'all-closed': 'every endpoint tried refused calls (circuit open or closing)',
      'no-match': 'no endpoint matches the requested subset or key',
    };
    return new MeshError(ErrorCode.NO_ENDPOINT, `no endpoint for service "${name}": ${why[reason]}`, {
      rejected: true,
      cause: this.#discoveryError,
      details: { service: name, reason, endpoints: all.length, unhealthy, ejected },
    });
  }

  /** Retires every endpoint, empties the lists and stops following discovery. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const e of this.#all) this.#retire(e);
    this.#all = [];
    this.#eligible = [];
    this.#parts.picker.update([]);
    // A stream with a disposer (a registry watch, `endpointSets`) is closed through it: `return()` on an
    // async generator parked in an `await` would only run once that await settles, which may be never.
    const source = this.#source as { close?: () => void } | undefined;
    if (typeof source?.close === 'function') source.close();
    void this.#iterator?.return?.()?.catch(() => {});
  }
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}
