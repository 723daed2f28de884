import {
  abortError,
  type CallContext,
  type Clock,
  classifyError,
  completionOf,
  type Endpoint,
  type EndpointInit,
  ErrorCode,
  InvalidArgumentError,
  MeshError,
  type Outcome,
  previousEndpoints,
  type Service,
  systemClock,
  type TimerHandle,
} from '@meshkit/core';
import { checkFunction, checkNumber, checkString, noteFailedEndpoint } from '@meshkit/core/internal';
import { balanceChannels } from './events.ts';
import { HealthChecker, type HealthCheckOptions } from './health-check.ts';
import { type OutlierConfig, type OutlierDetectionOptions, outlierConfig } from './outlier.ts';
import type { BalancedEndpoint, Picker } from './picker.ts';
import { p2cPeakEwma } from './pickers/p2c.ts';
import { type EndpointService, type TimeCell, TrackedEndpoint } from './tracked.ts';

/** Options for {@link balance}. */
export interface BalanceOptions<Req, Res> {
  /** The service's name, used in errors and `describe()`. */
  readonly service: string;
  /**
   * Where endpoints come from: a fixed list, or a stream of whole sets (`endpointSets(registry, name)`
   * from `@meshkit/discovery`); each set replaces the previous one.
   */
  readonly endpoints: readonly EndpointInit[] | AsyncIterable<readonly EndpointInit[]>;
  /** Builds the service that talks to one endpoint (undici's `factory`); called once per endpoint. */
  readonly connect: (endpoint: Endpoint) => EndpointService<Req, Res>;
  /** How to choose among eligible endpoints. Defaults to {@link p2cPeakEwma}. One picker per balancer. */
  readonly picker?: Picker<Req>;
  /** Passive outlier detection; `false` turns it off. Defaults to Envoy's rules (see {@link OutlierDetectionOptions}). */
  readonly outlierDetection?: OutlierDetectionOptions | false;
  /**
   * Outlier detection of its own for some endpoints (e.g. a DestinationRule subset's
   * `outlierDetection`), over `outlierDetection`'s settings; `undefined` leaves an endpoint to those.
   * Return the same object for every endpoint of a group: the endpoints sharing one are judged together
   * (`maxEjectionPercent` counts within the group, `intervalMs` is the group's sweep). Asked on every
   * call's outcome, so it may follow a configuration that changes.
   */
  readonly outlierDetectionFor?: (endpoint: Endpoint) => OutlierDetectionOptions | undefined;
  /** Active health checks; off unless given. */
  readonly healthCheck?: HealthCheckOptions;
  /**
   * When fewer than this percentage of endpoints are healthy and not ejected, the balancer ignores health
   * and ejection and uses every endpoint (Envoy's panic mode), on the bet that a mass failure is more
   * likely a bad check than a dead fleet. 0 turns it off. Defaults to 50.
   */
  readonly panicThresholdPercent?: number;
  /** The latency estimate of an endpoint before its first call, in ms. Defaults to 30. */
  readonly initialRttMs?: number;
  /** Peak-EWMA time constant, in ms. Defaults to 10,000. */
  readonly ewmaDecayMs?: number;
  /** How long calls wait for discovery's first set before failing with `ERR_NO_ENDPOINT`, in ms. Defaults to 5,000. */
  readonly discoveryTimeoutMs?: number;
  /** Maps a failed call to an outcome for outlier detection. Defaults to {@link classifyError}. */
  readonly classifyError?: (error: unknown) => Outcome;
  /** Maps a resolved call to an outcome, for transports that resolve with 5xx responses. Defaults to `success`. */
  readonly classifyResponse?: (response: Res) => Outcome;
  /** Time source for latency, ejection and health checks. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** A snapshot of one endpoint, from {@link Balancer.describe}. */
export interface EndpointDescription {
  readonly id: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
  readonly readiness: string;
  readonly healthy: boolean;
  readonly ejected: boolean;
  readonly ejections: number;
  readonly inFlight: number;
  readonly load: number;
}

/** A balanced service: call it like any `Service`; `describe()` shows the live state. */
export interface Balancer<Req, Res> extends Service<Req, Res> {
  /** Live state for the CLI and dashboard. */
  describe(): {
    service: string;
    picker: string;
    panic: boolean;
    endpoints: EndpointDescription[];
    discoveryError?: string;
  };
  /** The current endpoints (every one, eligible or not). */
  readonly endpoints: readonly BalancedEndpoint[];
  /** Stops discovery, checks and timers, and closes every endpoint's service. */
  close(): Promise<void>;
}

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

/**
 * A client-side load balancer as a `Service`: keeps the endpoint set from discovery, connects to each
 * endpoint once, skips endpoints that are removed, ejected, unhealthy or closed (open circuit) before any
 * bytes are sent, sets `ctx.endpoint` for the layers below, and feeds every call's latency and outcome
 * back into load tracking and outlier detection.
 *
 * When no endpoint can take a call it throws `ERR_NO_ENDPOINT` (`rejected: true`, nothing was sent)
 * naming the service and why: `details.reason` is a {@link NoEndpointReason}.
 *
 * @example
 * ```ts
 * import { createContext } from '@meshkit/core';
 * import { embeddedRegistry, endpointSets, httpProbe } from '@meshkit/discovery';
 * import { httpTransport } from '@meshkit/http';
 *
 * const registry = embeddedRegistry({ path: '.meshkit/registry.db' });
 * const users = balance({
 *   service: 'users',
 *   endpoints: endpointSets(registry, 'users'),
 *   connect: (endpoint) => httpTransport(endpoint.address),
 *   picker: p2cPeakEwma(),
 *   healthCheck: { probe: httpProbe({ path: '/healthz' }), intervalMs: 5_000 },
 * });
 * const user = await users({ method: 'GET', path: '/users/42' }, createContext({ timeoutMs: 2_000 }));
 * ```
 */
export function balance<Req, Res>(options: BalanceOptions<Req, Res>): Balancer<Req, Res> {
  return new BalancerCore(options).service;
}

class BalancerCore<Req, Res> {
  readonly service: Balancer<Req, Res>;
  readonly #name: string;
  readonly #connect: (endpoint: Endpoint) => EndpointService<Req, Res>;
  readonly #picker: Picker<Req>;
  readonly #clock: Clock;
  readonly #outlier: OutlierConfig | undefined;
  readonly #outlierOptions: OutlierDetectionOptions;
  readonly #outlierFor: ((endpoint: Endpoint) => OutlierDetectionOptions | undefined) | undefined;
  /** Validated per-group settings, by the options object `outlierDetectionFor` returned. */
  readonly #outlierGroups = new WeakMap<OutlierDetectionOptions, OutlierConfig>();
  /** When each group's interval work last ran. */
  readonly #sweptAt = new Map<OutlierConfig, number>();
  #intervalMs = Infinity;
  readonly #createdAt: number;
  readonly #checker: HealthChecker | undefined;
  readonly #panicPercent: number;
  readonly #initialRttMs: number;
  readonly #decayMs: number;
  readonly #discoveryTimeoutMs: number;
  readonly #classifyError: (error: unknown) => Outcome;
  readonly #classifyResponse: ((response: Res) => Outcome) | undefined;
  #all: TrackedEndpoint<Req, Res>[] = [];
  #eligible: readonly TrackedEndpoint<Req, Res>[] = [];
  #panic = false;
  #hasSet = false;
  #firstSet: Promise<void>;
  #resolveFirst!: () => void;
  #discoveryError: unknown;
  /** The last set was not empty, yet none of its entries could be used. */
  #rejectedAll = false;
  #iterator: AsyncIterator<readonly EndpointInit[]> | undefined;
  #source: unknown;
  #intervalTimer: TimerHandle | undefined;
  readonly #ejectionTimers = new Map<TrackedEndpoint<Req, Res>, TimerHandle>();
  #closed = false;
  readonly #time: TimeCell = { now: 0 };

  constructor(options: BalanceOptions<Req, Res>) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('balance', 'options must be an object', options);
    }
    this.#name = checkString('balance.service', options.service);
    this.#connect = checkFunction('balance.connect', options.connect);
    this.#clock = options.clock ?? systemClock;
    this.#createdAt = this.#clock.now();
    this.#time.now = this.#clock.now();
    const picker = options.picker ?? (p2cPeakEwma() as Picker<Req>);
    if (
      typeof picker !== 'object' ||
      typeof picker.pick !== 'function' ||
      typeof picker.update !== 'function'
    ) {
      throw new InvalidArgumentError('balance.picker', 'must be a Picker (name, update, pick)', picker);
    }
    this.#picker = picker;
    this.#outlierOptions = options.outlierDetection === false ? {} : (options.outlierDetection ?? {});
    this.#outlier =
      options.outlierDetection === false
        ? undefined
        : outlierConfig(options.outlierDetection ?? {}, 'balance.outlierDetection');
    this.#outlierFor =
      options.outlierDetectionFor === undefined
        ? undefined
        : checkFunction<(endpoint: Endpoint) => OutlierDetectionOptions | undefined>(
            'balance.outlierDetectionFor',
            options.outlierDetectionFor,
          );
    this.#panicPercent = checkNumber(
      'balance.panicThresholdPercent',
      options.panicThresholdPercent ?? 50,
      0,
      100,
    );
    this.#initialRttMs = checkNumber('balance.initialRttMs', options.initialRttMs ?? 30, 0);
    this.#decayMs = checkNumber('balance.ewmaDecayMs', options.ewmaDecayMs ?? 10_000, 1);
    this.#discoveryTimeoutMs = checkNumber(
      'balance.discoveryTimeoutMs',
      options.discoveryTimeoutMs ?? 5_000,
      0,
    );
    this.#classifyError = checkFunction('balance.classifyError', options.classifyError ?? classifyError);
    this.#classifyResponse =
      options.classifyResponse === undefined
        ? undefined
        : checkFunction<(response: Res) => Outcome>('balance.classifyResponse', options.classifyResponse);
    this.#checker =
      options.healthCheck === undefined
        ? undefined
        : new HealthChecker(options.healthCheck, 'balance.healthCheck', this.#clock, (e, error) => {
            if (balanceChannels.healthChanged.hasSubscribers) {
              balanceChannels.healthChanged.publish({
                service: this.#name,
                endpoint: e.id,
                healthy: e.healthy,
                error,
              });
            }
            this.#rebuild();
          });
    this.#firstSet = new Promise<void>((resolve) => {
      this.#resolveFirst = resolve;
    });
    const source = options.endpoints;
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
    if (this.#outlier !== undefined) this.#armInterval(this.#outlier.intervalMs);

    const call = (req: Req, ctx: CallContext): Promise<Res> =>
      this.#hasSet ? this.#send(req, ctx) : this.#sendAfterDiscovery(req, ctx);
    this.service = Object.assign(call, {
      describe: () => this.#describe(),
      close: () => this.#close(),
    }) as unknown as Balancer<Req, Res>;
    Object.defineProperty(this.service, 'endpoints', { get: () => this.#all });
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
      const e = new TrackedEndpoint<Req, Res>(w, this.#time, this.#initialRttMs, this.#decayMs);
      try {
        e.service = this.#connect(e);
        checkFunction('balance.connect(endpoint)', e.service);
      } catch (err) {
        // One endpoint that cannot be connected must not keep the others out of the set.
        reject(indexOf.get(w.id) ?? -1, w, err);
        continue;
      }
      next.push(e);
      this.#checker?.add(e);
    }
    this.#all = next;
    this.#rejectedAll = next.length === 0 && set.length > 0;
    this.#rebuild();
    if (!this.#hasSet) {
      this.#hasSet = true;
      this.#resolveFirst();
    }
  }

  #retire(e: TrackedEndpoint<Req, Res>): void {
    e.removed = true;
    this.#checker?.remove(e);
    const timer = this.#ejectionTimers.get(e);
    if (timer !== undefined) this.#clock.clearTimeout(timer);
    this.#ejectionTimers.delete(e);
    try {
      void Promise.resolve(e.service.close?.()).catch(() => {});
    } catch {
      // A transport that fails to close must not stop the set from updating.
    }
  }

  /** Recomputes the eligible list and tells the picker when it changed. */
  #rebuild(): void {
    const all = this.#all;
    const healthy = all.filter((e) => e.healthy && !e.outlier.ejected);
    const panic =
      all.length > 0 && this.#panicPercent > 0 && healthy.length * 100 < this.#panicPercent * all.length;
    const eligible = panic ? all : healthy;
    this.#panic = panic;
    if (eligible.length === this.#eligible.length && eligible.every((e, i) => e === this.#eligible[i]))
      return;
    this.#eligible = eligible;
    this.#picker.update(eligible);
  }

  async #sendAfterDiscovery(req: Req, ctx: CallContext): Promise<Res> {
    if (ctx.aborted) throw abortError(ctx.abortReason);
    let timer: TimerHandle | undefined;
    let unlisten: (() => void) | undefined;
    const waited = await Promise.race([
      this.#firstSet.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = this.#clock.setTimeout(
          () => resolve(false),
          Math.min(this.#discoveryTimeoutMs, ctx.remainingMs()),
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
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      unlisten?.();
    });
    if (!waited) throw this.#noEndpoint('discovery-pending');
    return this.#send(req, ctx);
  }

  /**
   * Picks an endpoint and sends; the outcome is recorded when the call settles. Not an `async` function:
   * its suspended frame and the `await` cost more per call than one `.then` whose two closures share a
   * single context.
   */
  #send(req: Req, ctx: CallContext): Promise<Res> {
    const start = this.#clock.now();
    this.#time.now = start;
    let e: TrackedEndpoint<Req, Res>;
    let pending: Promise<Res>;
    try {
      e = this.#choose(req, ctx);
    } catch (err) {
      return Promise.reject(err);
    }
    e.inFlight++;
    if (balanceChannels.picked.hasSubscribers) {
      balanceChannels.picked.publish({
        service: this.#name,
        endpoint: e.id,
        address: e.address,
        labels: e.labels,
        attempt: ctx.attempt,
        ctx,
      });
    }
    try {
      pending = e.service(req, ctx.withEndpoint(e));
    } catch (err) {
      noteFailedEndpoint(err, e.id);
      this.#complete(e, start, this.#classifyError(err));
      return Promise.reject(err);
    }
    return pending.then(
      (response) => {
        const completion = completionOf(response);
        if (completion === undefined) {
          const classify = this.#classifyResponse;
          this.#complete(e, start, classify === undefined ? 'success' : classify(response));
        } else {
          // A streamed result: the call (its in-flight count, latency and outcome) ends with the stream.
          completion.onDone((error) => {
            const classify = this.#classifyResponse;
            const outcome =
              error !== undefined
                ? this.#classifyError(error)
                : classify === undefined
                  ? 'success'
                  : classify(response);
            this.#complete(e, start, outcome);
          });
        }
        return response;
      },
      (err: unknown) => {
        noteFailedEndpoint(err, e.id);
        this.#complete(e, start, this.#classifyError(err));
        throw err;
      },
    );
  }

  #choose(req: Req, ctx: CallContext): TrackedEndpoint<Req, Res> {
    const eligible = this.#eligible;
    if (eligible.length === 0) throw this.#noEndpoint(this.#emptyReason());
    // The picker chose among eligible endpoints; what only the transport knows (open circuit, full pool)
    // is checked here, before any bytes are sent. A few more picks find another endpoint for random and
    // rotating pickers; hash pickers keep their affinity and fail rather than spill.
    // A retry also passes over the endpoints this call already failed on, while another one is picked
    // (Envoy's previous_hosts retry predicate); when only those are left, it goes back to one of them.
    let busy: TrackedEndpoint<Req, Res> | undefined;
    let again: TrackedEndpoint<Req, Res> | undefined;
    const avoid = ctx.attempt > 1 ? ctx.get(previousEndpoints) : undefined;
    const tries = Math.min(eligible.length, 8) + 1;
    for (let i = 0; i < tries; i++) {
      const e = this.#picker.pick(req, ctx) as TrackedEndpoint<Req, Res> | undefined;
      if (e === undefined) {
        if (i === 0) throw this.#noEndpoint('no-match');
        break;
      }
      const readiness = e.transportReadiness();
      if (readiness === 'closed') continue;
      if (avoid?.includes(e.id)) {
        again ??= e;
        continue;
      }
      if (readiness === 'ready') return e;
      busy ??= e;
    }
    const fallback = busy ?? again;
    if (fallback !== undefined) return fallback;
    throw this.#noEndpoint('all-closed');
  }

  #complete(e: TrackedEndpoint<Req, Res>, start: number, outcome: Outcome): void {
    e.inFlight--;
    const now = this.#clock.now();
    // Connect failures are fast: counting their latency would make a dead endpoint look like the best.
    if (outcome !== 'ignore' && outcome !== 'local') e.observe(now - start, now);
    const config = this.#outlierOf(e);
    if (config === undefined || e.removed || e.outlier.ejected) return;
    const rule = e.outlier.record(outcome, config);
    if (rule !== undefined) this.#eject(e, rule, config);
  }

  /** The outlier settings `e` is judged by: its group's, else the balancer's; `undefined` for none. */
  #outlierOf(e: TrackedEndpoint<Req, Res>): OutlierConfig | undefined {
    const own = this.#outlierFor?.(e);
    if (own === undefined) return this.#outlier;
    let config = this.#outlierGroups.get(own);
    if (config === undefined) {
      try {
        config = outlierConfig({ ...this.#outlierOptions, ...own }, 'balance.outlierDetectionFor');
      } catch {
        // Settings that do not validate leave the endpoint to the balancer's own.
        return this.#outlier;
      }
      this.#outlierGroups.set(own, config);
      if (config.intervalMs < this.#intervalMs) {
        if (this.#intervalTimer !== undefined) this.#clock.clearTimeout(this.#intervalTimer);
        this.#armInterval(config.intervalMs);
      }
    }
    return config;
  }

  /** The endpoints judged by `config` (one outlier group). */
  #groupOf(config: OutlierConfig): TrackedEndpoint<Req, Res>[] {
    if (this.#outlierFor === undefined) return this.#all;
    return this.#all.filter((x) => this.#outlierOf(x) === config);
  }

  #eject(e: TrackedEndpoint<Req, Res>, reason: string, config: OutlierConfig): void {
    const group = this.#groupOf(config);
    const ejected = group.reduce((n, x) => n + (x.outlier.ejected ? 1 : 0), 0);
    if ((ejected + 1) * 100 > config.maxEjectionPercent * group.length) return;
    const until = e.outlier.eject(this.#clock.now(), config);
    this.#ejectionTimers.set(
      e,
      this.#clock.setTimeout(() => {
        this.#ejectionTimers.delete(e);
        e.outlier.ejectedUntil = 0;
        if (balanceChannels.returned.hasSubscribers) {
          balanceChannels.returned.publish({ service: this.#name, endpoint: e.id });
        }
        this.#rebuild();
      }, until - this.#clock.now()),
    );
    if (balanceChannels.ejected.hasSubscribers) {
      balanceChannels.ejected.publish({
        service: this.#name,
        endpoint: e.id,
        reason,
        untilMs: until,
        ejections: e.outlier.ejections,
      });
    }
    this.#rebuild();
  }

  /** Runs the interval work every `periodMs` (the shortest interval of any group). */
  #armInterval(periodMs: number): void {
    this.#intervalMs = periodMs;
    this.#intervalTimer = this.#clock.setTimeout(() => {
      if (this.#closed) return;
      this.#sweep();
      this.#armInterval(periodMs);
    }, periodMs);
  }

  /** The interval work of every group whose own interval has passed since it last ran. */
  #sweep(): void {
    const now = this.#clock.now();
    if (this.#outlierFor === undefined) {
      if (this.#outlier !== undefined) this.#evaluateInterval(this.#outlier, this.#all);
      return;
    }
    const groups = new Map<OutlierConfig, TrackedEndpoint<Req, Res>[]>();
    for (const e of this.#all) {
      const config = this.#outlierOf(e);
      if (config === undefined) continue;
      const members = groups.get(config);
      if (members === undefined) groups.set(config, [e]);
      else members.push(e);
    }
    for (const [config, members] of groups) {
      const last = this.#sweptAt.get(config) ?? this.#createdAt;
      if (now - last < config.intervalMs) continue;
      this.#sweptAt.set(config, now);
      this.#evaluateInterval(config, members);
    }
  }

  /** Envoy's interval work: the failure-percentage rule, then ejection counts decay for endpoints in service. */
  #evaluateInterval(config: OutlierConfig, all: readonly TrackedEndpoint<Req, Res>[]): void {
    if (config.failurePercentageThreshold > 0) {
      const judged = all.filter(
        (e) => !e.outlier.ejected && e.outlier.requests >= config.failurePercentageRequestVolume,
      );
      if (judged.length >= config.failurePercentageMinimumHosts) {
        for (const e of judged) {
          if ((e.outlier.failures * 100) / e.outlier.requests >= config.failurePercentageThreshold) {
            this.#eject(e, 'failure-percentage', config);
          }
        }
      }
    }
    for (const e of all) {
      if (!e.outlier.ejected && e.outlier.ejections > 0 && e.outlier.failures === 0) e.outlier.ejections--;
      e.outlier.requests = 0;
      e.outlier.failures = 0;
    }
  }

  #emptyReason(): NoEndpointReason {
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

  #noEndpoint(reason: NoEndpointReason): MeshError {
    const all = this.#all;
    const unhealthy = all.filter((e) => !e.healthy).length;
    const ejected = all.filter((e) => e.outlier.ejected).length;
    const why: Record<NoEndpointReason, string> = {
      'none-registered': 'no endpoint is registered',
      'discovery-pending': `discovery has not delivered endpoints within ${this.#discoveryTimeoutMs} ms`,
      'discovery-failed': `discovery failed: ${String((this.#discoveryError as Error)?.message ?? this.#discoveryError)}`,
      'all-rejected': `discovery delivered endpoints but none could be used: ${String((this.#discoveryError as Error)?.message ?? this.#discoveryError)}`,
      'all-unhealthy': `all ${all.length} endpoints are unhealthy`,
      'all-ejected': `all ${all.length} endpoints are ejected by outlier detection`,
      'all-unavailable': `none of ${all.length} endpoints is available (${unhealthy} unhealthy, ${ejected} ejected)`,
      'all-closed': 'every endpoint tried refused calls (circuit open or closing)',
      'no-match': 'no endpoint matches the requested subset or key',
    };
    return new MeshError(ErrorCode.NO_ENDPOINT, `no endpoint for service "${this.#name}": ${why[reason]}`, {
      rejected: true,
      cause: this.#discoveryError,
      details: { service: this.#name, reason, endpoints: all.length, unhealthy, ejected },
    });
  }

  #describe() {
    const now = this.#clock.now();
    this.#time.now = now;
    return {
      service: this.#name,
      picker: this.#picker.name,
      panic: this.#panic,
      endpoints: this.#all.map((e) => ({
        id: e.id,
        address: e.address,
        labels: e.labels,
        weight: e.weight,
        readiness: e.readiness(),
        healthy: e.healthy,
        ejected: e.outlier.ejected,
        ejections: e.outlier.ejections,
        inFlight: e.inFlight,
        load: e.load(),
      })),
      ...(this.#discoveryError === undefined
        ? {}
        : { discoveryError: String((this.#discoveryError as Error)?.message ?? this.#discoveryError) }),
    };
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#checker?.stop();
    if (this.#intervalTimer !== undefined) this.#clock.clearTimeout(this.#intervalTimer);
    for (const e of this.#all) this.#retire(e);
    this.#all = [];
    this.#eligible = [];
    this.#picker.update([]);
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
