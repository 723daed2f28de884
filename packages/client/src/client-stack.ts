import {
  type BalanceOptions,
  type Balancer,
  balance,
  type EndpointService,
  p2cPeakEwma,
  subset,
} from '@meshkit/balance';
import {
  type CallContext,
  type Clock,
  type Endpoint,
  type EndpointInit,
  InvalidArgumentError,
  inheritCancelsPromptly,
  isEndpointFailure,
  type Layer,
  readinessOf,
  type Service,
  type Stack,
  stack,
  systemClock,
} from '@meshkit/core';
import { checkNumber, checkString } from '@meshkit/core/internal';
import {
  type BulkheadOptions,
  bulkhead,
  type CircuitBreakerOptions,
  circuitBreaker,
  deadline,
  type HedgeOptions,
  hedge,
  RetryBudget,
  type RetryBudgetOptions,
  type RetryOptions,
  retry,
  timeout,
} from '@meshkit/policies';
import { type ConnectHints, connectHintsOf, endpointPolicyOf, outlierOptionsOf } from './endpoint-policy.ts';
import { isRetryableCallError } from './failures.ts';
import { hedgeAttempts, hedgeSlot, spreadHedges } from './hedge-slot.ts';
import { type CallObservation, observedAttempts, observedCalls } from './observe.ts';
import { routePicker } from './route-picker.ts';
import { routePolicies } from './route-policies.ts';

/** The policies of a client pipeline; each can be turned off with `false`. */
export interface ClientPolicyOptions<Res> {
  /** The whole call, every retry included, must finish within this many ms. Defaults to 10,000. */
  readonly deadlineMs?: number | false;
  /** Retries (see `retry()` in `@meshkit/policies`). Defaults to 3 attempts, jittered exponential backoff. */
  readonly retry?: Omit<RetryOptions<Res>, 'budget'> | false;
  /**
   * Hedged requests (see `hedge()` in `@meshkit/policies`), after the overall deadline and before retry:
   * when an idempotent unary call has not answered after `delayMs` (or a latency percentile), another
   * attempt goes out, to an endpoint where the call has no attempt running when the picker offers one;
   * the first answer wins and the others are cancelled. Each hedge takes a token from the retry budget.
   * Non-idempotent and streaming calls are never hedged. Off by default.
   */
  readonly hedge?: Omit<HedgeOptions, 'budget' | 'deposit'> | false;
  /**
   * The retry budget, shared by retries and hedges: a shared `RetryBudget` (share one per downstream
   * service), its options, or `false`. Defaults to a new budget of 20% plus 10 retries per second.
   */
  readonly budget?: RetryBudget | RetryBudgetOptions | false;
  /** A circuit breaker per endpoint. Defaults to opening after 5 consecutive failures for 10 s. */
  readonly breaker?: CircuitBreakerOptions | false;
  /** A bulkhead per endpoint. Defaults to none. */
  readonly bulkhead?: BulkheadOptions | false;
  /** Each attempt must finish within this many ms. Defaults to 3,000. */
  readonly attemptTimeoutMs?: number | false;
}

/** Options of {@link clientStack}. */
export interface ClientStackOptions<Req, Res> {
  /** The downstream service's name, shown in errors and `describe()`. */
  readonly service: string;
  /** A fixed list of endpoints, or a stream of whole sets (`endpointSets(registry, name)`). */
  readonly endpoints: readonly EndpointInit[] | AsyncIterable<readonly EndpointInit[]>;
  /**
   * The transport for one endpoint: a `Service` with an optional `close()`. `hints` carry what the
   * endpoint's DestinationRule asks of its connections (a routed client), for transports that can apply it.
   */
  readonly connect: (
    endpoint: Endpoint,
    hints: ConnectHints,
  ) => Service<Req, Res> & { close?(): void | Promise<void> };
  readonly policies?: ClientPolicyOptions<Res>;
  /**
   * Which failures are worth retrying (the retry policy's default `retryOn`). Defaults to
   * {@link isRetryableCallError}.
   */
  readonly retryOn?: (error: unknown, ctx: CallContext) => boolean;
  /**
   * Which failures count against an endpoint's breaker (its default `isFailure`). Defaults to core's
   * `isEndpointFailure`, the rule the balancer's outlier detection uses too.
   */
  readonly isEndpointFailure?: (error: unknown) => boolean;
  /**
   * The routing layer (`routing()` from `@meshkit/routing`): sees the request first. Its decision steers
   * the rest: the route's `timeout` and `retries` replace `deadlineMs` and `retry` for its calls (still
   * drawing on the budget), and the default picker sends each call to its route's subset, balanced as the
   * subset's DestinationRule says. Each endpoint is also judged by its subset's `outlierDetection`
   * (mapped onto the balancer's), and its transport opened with the subset's `connectionPool.tcp`
   * `connectTimeout` (see {@link ConnectHints}).
   */
  readonly route?: Layer<Req, Res>;
  /** Your own layers, after the route and before the overall deadline. */
  readonly layers?: readonly Layer<Req, Res>[];
  /** Picker, outlier detection, health checks and the rest of `balance()`'s options. */
  readonly balance?: Omit<
    BalanceOptions<Req, Res>,
    'service' | 'endpoints' | 'connect' | 'clock' | 'cancelsPromptly'
  >;
  /** Declares that every transport `connect` returns rejects as soon as its call is cancelled. */
  readonly transportCancelsPromptly?: boolean;
  /** The clock for deadlines, backoff, breakers and latency. Defaults to the system clock. */
  readonly clock?: Clock;
  /**
   * How the transport describes calls to observers: each logical call and each attempt is then published
   * on core's `exchangeChannels` (`meshkit:client:call:*`, `meshkit:client:attempt:*`) while anyone
   * listens. Defaults to none (nothing published).
   */
  readonly observation?: CallObservation<Req>;
  /** How option errors name the options object, e.g. `httpClient`. Defaults to `clientStack`. */
  readonly optionsName?: string;
}

/** A built client pipeline. */
export interface ClientStack<Req, Res> {
  /** The whole pipeline as one service. */
  readonly service: Service<Req, Res>;
  /** The retry budget, when there is one. */
  readonly budget: RetryBudget | undefined;
  /** Live state: the layers in request order, the budget, and each endpoint with its own layers. */
  describe(): Record<string, unknown>;
  /** Stops following discovery and closes every endpoint's transport. */
  close(): Promise<void>;
}

/**
 * The one client pipeline every transport shares, built from data:
 *
 * route → your layers → overall deadline → hedge → retry with budget → balancer →
 * per endpoint: circuit breaker → bulkhead → attempt timeout → transport
 *
 * Each endpoint gets its own breaker and bulkhead, so one bad instance is isolated alone; their
 * readiness composes through the endpoint's stack, so the balancer skips an endpoint whose circuit is
 * open without sending anything. A streamed result holds every layer until its stream is over.
 *
 * @example
 * ```ts
 * import { httpTransport } from '@meshkit/http';
 *
 * const users = clientStack({
 *   service: 'users',
 *   endpoints: [{ id: 'a', address: '127.0.0.1:8080' }],
 *   connect: (endpoint) => httpTransport(endpoint.address),
 *   policies: { deadlineMs: 2_000, attemptTimeoutMs: 500 },
 * });
 * ```
 */
export function clientStack<Req, Res>(options: ClientStackOptions<Req, Res>): ClientStack<Req, Res> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('clientStack', 'options must be an object', options);
  }
  const name = checkString('clientStack.service', options.service);
  if (typeof options.connect !== 'function') {
    throw new InvalidArgumentError('clientStack.connect', 'must be a function', options.connect);
  }
  const field = options.optionsName ?? 'clientStack';
  const clock = options.clock ?? systemClock;
  const policies = options.policies ?? {};

  const route = options.route;
  const outer: Layer<Req, Res>[] = [];
  if (route !== undefined) outer.push(route);
  if (options.layers !== undefined) {
    if (!Array.isArray(options.layers)) {
      throw new InvalidArgumentError(`${field}.layers`, 'must be an array of layers', options.layers);
    }
    outer.push(...options.layers);
  }
  const deadlineMs =
    policies.deadlineMs === false
      ? false
      : checkNumber(`${field}.policies.deadlineMs`, policies.deadlineMs ?? 10_000, 1);
  const retryOptions =
    policies.retry === false
      ? false
      : { retryOn: options.retryOn ?? isRetryableCallError, ...policies.retry };
  const hedgeOn = policies.hedge !== undefined && policies.hedge !== false;
  const budget =
    (retryOptions === false && !hedgeOn) || policies.budget === false
      ? undefined
      : policies.budget instanceof RetryBudget
        ? policies.budget
        : new RetryBudget({ clock, ...policies.budget });
  // Hedges share the budget with retries; the retry layer below deposits for every attempt it is given.
  const hedgeLayer = hedgeOn
    ? hedgeSlot(
        hedge<Req, Res>({
          ...(policies.hedge as HedgeOptions),
          ...(budget === undefined ? {} : { budget, deposit: retryOptions === false }),
        }),
      )
    : undefined;
  if (route !== undefined) {
    // The route's decision picks the deadline and retries per call; these are the defaults.
    outer.push(
      routePolicies<Req, Res>({
        deadlineMs,
        retry: retryOptions,
        budget,
        clock,
        service: name,
        ...(hedgeLayer === undefined ? {} : { hedge: hedgeLayer }),
      }),
    );
  } else {
    if (deadlineMs !== false) outer.push(deadline<Req, Res>({ timeoutMs: deadlineMs }));
    if (hedgeLayer !== undefined) outer.push(hedgeLayer);
    if (retryOptions !== false) {
      outer.push(retry<Req, Res>({ ...retryOptions, ...(budget === undefined ? {} : { budget }) }));
    }
  }

  const attemptTimeout =
    policies.attemptTimeoutMs === false
      ? undefined
      : timeout<Req, Res>({
          timeoutMs: checkNumber(`${field}.policies.attemptTimeoutMs`, policies.attemptTimeoutMs ?? 3_000, 1),
        });
  const isFailure = options.isEndpointFailure ?? isEndpointFailure;
  /** The layers of one endpoint, new per endpoint (its own breaker and bulkhead). */
  const endpointLayers = (endpoint: Endpoint): Stack<Req, Res> => {
    const layers: Layer<Req, Res>[] = [];
    const target = { service: name, endpoint: endpoint.id };
    if (policies.breaker !== false) {
      layers.push(
        circuitBreaker<Req, Res>({
          clock,
          isFailure,
          target,
          ...policies.breaker,
        }),
      );
    }
    if (policies.bulkhead !== undefined && policies.bulkhead !== false) {
      layers.push(bulkhead<Req, Res>({ target, ...policies.bulkhead }));
    }
    if (attemptTimeout !== undefined) layers.push(attemptTimeout);
    return stack(...layers);
  };

  const observation = options.observation;
  // A routing layer knows each endpoint's DestinationRule policy (its subset's, by labels).
  const endpointPolicy = endpointPolicyOf(route as Layer<unknown, unknown> | undefined);
  const perEndpoint = new Map<string, Stack<Req, Res>>();
  const connect = (endpoint: Endpoint): EndpointService<Req, Res> => {
    const transport = options.connect(endpoint, connectHintsOf(endpointPolicy?.(endpoint.labels)));
    const layers = endpointLayers(endpoint);
    const observed =
      observation === undefined ? transport : observedAttempts(transport, name, endpoint, observation);
    const service = layers.wrap(observed);
    perEndpoint.set(endpoint.id, layers);
    const endpointCall: EndpointService<Req, Res> = hedgeOn
      ? (req, ctx) => {
          // A hedged call's attempt: noted while it runs, so the next hedge is sent elsewhere.
          const attempts = ctx.get(hedgeAttempts);
          if (attempts === undefined) return service(req, ctx);
          attempts.enter(endpoint.id);
          const leave = (): void => attempts.leave(endpoint.id);
          const pending = service(req, ctx);
          pending.then(leave, leave);
          return pending;
        }
      : (req, ctx) => service(req, ctx);
    endpointCall.readiness = () => readinessOf(service);
    endpointCall.close = () => {
      if (perEndpoint.get(endpoint.id) === layers) perEndpoint.delete(endpoint.id);
      return transport.close?.();
    };
    return inheritCancelsPromptly(service, endpointCall);
  };

  // A routed client sends each call to its route's subset, balanced as the subset's DestinationRule asks.
  const chosen =
    options.balance?.picker ?? (route === undefined ? undefined : subset<Req>({ picker: routePicker }));
  const picker = hedgeOn ? spreadHedges<Req>(chosen ?? p2cPeakEwma()) : chosen;
  const balancer: Balancer<Req, Res> = balance<Req, Res>({
    ...options.balance,
    ...(picker === undefined ? {} : { picker }),
    ...(endpointPolicy === undefined || options.balance?.outlierDetectionFor !== undefined
      ? {}
      : {
          outlierDetectionFor: (endpoint: Endpoint) => {
            const spec = endpointPolicy(endpoint.labels)?.outlierDetection;
            return spec === undefined ? undefined : outlierOptionsOf(spec);
          },
        }),
    service: name,
    endpoints: options.endpoints,
    connect,
    // Every endpoint's service cancels promptly when its transport does: the guards, the timeouts and the
    // hedge bookkeeping add no wait that ignores cancellation. The balancer checks each one.
    cancelsPromptly: options.transportCancelsPromptly === true,
    clock,
  });
  const layers = stack(...outer);
  const layered = layers.wrap(balancer);
  const service = observation === undefined ? layered : observedCalls(layered, name, observation);

  return {
    service,
    budget,
    describe: () => {
      const state = balancer.describe();
      return {
        service: name,
        ...layers.describe?.(),
        ...(hedgeLayer === undefined ? {} : { hedge: hedgeLayer.describe?.() ?? {} }),
        ...(budget === undefined ? {} : { budget: budget.describe() }),
        balancer: {
          ...state,
          endpoints: state.endpoints.map((e) => ({
            ...e,
            ...(perEndpoint.get(e.id)?.describe?.() ?? {}),
          })),
        },
      };
    },
    close: () => balancer.close(),
  };
}
