import {
  type CallContext,
  type Clock,
  cancelsPromptly,
  classifyError,
  completionOf,
  type Endpoint,
  type EndpointInit,
  InvalidArgumentError,
  markCancelsPromptly,
  type Outcome,
  previousEndpoints,
  type Service,
  systemClock,
} from '@meshkit/core';
import { checkFunction, checkNumber, checkString, noteFailedEndpoint } from '@meshkit/core/internal';
import { Ejection } from './ejection.ts';
import { EndpointSet, type NoEndpointReason } from './endpoint-set.ts';
import { balanceChannels } from './events.ts';
import { HealthChecker, type HealthCheckOptions } from './health-check.ts';
import type { OutlierDetectionOptions } from './outlier.ts';
import type { BalancedEndpoint, Picker } from './picker.ts';
import { p2cPeakEwma } from './pickers/p2c.ts';
import type { EndpointService, TimeCell, TrackedEndpoint } from './tracked.ts';

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
  /**
   * Declares that every service `connect` returns is marked with `markCancelsPromptly`. The balancer then
   * marks itself too (its wait for discovery ends when the call is cancelled), so a timeout above it needs
   * no promise of its own. An endpoint whose service is not marked is refused, as a failed connect is.
   * Defaults to `false`.
   */
  readonly cancelsPromptly?: boolean;
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

export type { NoEndpointReason };

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

/** `connect`, refusing services without the prompt-cancellation mark when the balancer promises it. */
function promptConnect<Req, Res>(
  connect: (endpoint: Endpoint) => EndpointService<Req, Res>,
  required: boolean,
): (endpoint: Endpoint) => EndpointService<Req, Res> {
  if (!required) return connect;
  return (endpoint) => {
    const service = connect(endpoint);
    if (typeof service === 'function' && !cancelsPromptly(service)) {
      throw new InvalidArgumentError(
        'balance.connect(endpoint)',
        'must return a service marked with markCancelsPromptly when balance.cancelsPromptly is true',
        endpoint.id,
      );
    }
    return service;
  };
}

class BalancerCore<Req, Res> {
  readonly service: Balancer<Req, Res>;
  readonly #name: string;
  readonly #picker: Picker<Req>;
  readonly #clock: Clock;
  readonly #ejection: Ejection<Req, Res>;
  readonly #checker: HealthChecker | undefined;
  readonly #endpoints: EndpointSet<Req, Res>;
  readonly #classifyError: (error: unknown) => Outcome;
  readonly #classifyResponse: ((response: Res) => Outcome) | undefined;
  #closed = false;
  readonly #time: TimeCell = { now: 0 };

  constructor(options: BalanceOptions<Req, Res>) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('balance', 'options must be an object', options);
    }
    this.#name = checkString('balance.service', options.service);
    const connect = promptConnect(
      checkFunction<(endpoint: Endpoint) => EndpointService<Req, Res>>('balance.connect', options.connect),
      options.cancelsPromptly === true,
    );
    this.#clock = options.clock ?? systemClock;
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
    this.#ejection = new Ejection<Req, Res>(options.outlierDetection, options.outlierDetectionFor, {
      name: this.#name,
      clock: this.#clock,
      endpoints: () => this.#endpoints.all,
      changed: () => this.#endpoints.rebuild(),
    });
    const panicPercent = checkNumber(
      'balance.panicThresholdPercent',
      options.panicThresholdPercent ?? 50,
      0,
      100,
    );
    const initialRttMs = checkNumber('balance.initialRttMs', options.initialRttMs ?? 30, 0);
    const decayMs = checkNumber('balance.ewmaDecayMs', options.ewmaDecayMs ?? 10_000, 1);
    const discoveryTimeoutMs = checkNumber(
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
            this.#endpoints.rebuild();
          });
    this.#endpoints = new EndpointSet<Req, Res>({
      name: this.#name,
      connect,
      picker,
      checker: this.#checker,
      clock: this.#clock,
      time: this.#time,
      panicPercent,
      initialRttMs,
      decayMs,
      discoveryTimeoutMs,
      retired: (e) => this.#ejection.forget(e),
    });
    this.#endpoints.start(options.endpoints);
    this.#ejection.start();

    const call = (req: Req, ctx: CallContext): Promise<Res> =>
      this.#endpoints.hasSet ? this.#send(req, ctx) : this.#sendAfterDiscovery(req, ctx);
    this.service = Object.assign(call, {
      describe: () => this.#describe(),
      close: () => this.#close(),
    }) as unknown as Balancer<Req, Res>;
    Object.defineProperty(this.service, 'endpoints', { get: () => this.#endpoints.all });
    if (options.cancelsPromptly === true) markCancelsPromptly(this.service);
  }

  async #sendAfterDiscovery(req: Req, ctx: CallContext): Promise<Res> {
    const waited = await this.#endpoints.waitForFirstSet(ctx);
    if (!waited) throw this.#endpoints.noEndpoint('discovery-pending');
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
    const endpoints = this.#endpoints;
    const eligible = endpoints.eligible;
    if (eligible.length === 0) throw endpoints.noEndpoint(endpoints.emptyReason());
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
        if (i === 0) throw endpoints.noEndpoint('no-match');
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
    throw endpoints.noEndpoint('all-closed');
  }

  #complete(e: TrackedEndpoint<Req, Res>, start: number, outcome: Outcome): void {
    e.inFlight--;
    const now = this.#clock.now();
    // Connect failures are fast: counting their latency would make a dead endpoint look like the best.
    if (outcome !== 'ignore' && outcome !== 'local') e.observe(now - start, now);
    this.#ejection.record(e, outcome);
  }

  #describe() {
    const now = this.#clock.now();
    this.#time.now = now;
    const discoveryError = this.#endpoints.discoveryError;
    return {
      service: this.#name,
      picker: this.#picker.name,
      panic: this.#endpoints.panic,
      endpoints: this.#endpoints.all.map((e) => ({
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
      ...(discoveryError === undefined
        ? {}
        : { discoveryError: String((discoveryError as Error)?.message ?? discoveryError) }),
    };
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#checker?.stop();
    this.#ejection.close();
    this.#endpoints.close();
  }
}
