import {
  create,
  type DescMessage,
  type DescMethod,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from '@bufbuild/protobuf';
import { MethodOptions_IdempotencyLevel } from '@bufbuild/protobuf/wkt';
import {
  type BalanceOptions,
  type Balancer,
  balance,
  type EndpointService,
  type Picker,
} from '@meshkit/balance';
import {
  type AnyLayer,
  type CallContext,
  type Clock,
  checkNumber,
  checkString,
  createContext,
  type EndpointInit,
  InvalidArgumentError,
  inheritCancelsPromptly,
  markCancelsPromptly,
  type Readiness,
  type Service,
  stack,
  systemClock,
} from '@meshkit/core';
import { endpointSets, type Registry } from '@meshkit/discovery';
import {
  type CircuitBreaker,
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
import type { Metadata } from '../wire/metadata.ts';
import type { GrpcClientTlsOptions } from './connection.ts';
import { isEndpointFailure, isRetryableGrpcError } from './failures.ts';
import { type GrpcTransportOptions, grpcTransport } from './transport.ts';
import type { GrpcRequest, GrpcResponse, GrpcStreamResponse, GrpcUnaryResponse } from './types.ts';

/**
 * The policies of a client, in request order: overall deadline → retry with budget → balancer →
 * per-endpoint breaker → per-attempt timeout → transport. Each can be turned off with `false`.
 */
export interface GrpcPolicyOptions {
  /**
   * A unary call, every retry included, must finish within this many ms. Defaults to 10,000. Server
   * streams get no default deadline (a subscription may last for hours): give one per call.
   */
  readonly deadlineMs?: number | false;
  /** Retries (see `retry()` in `@meshkit/policies`). Defaults to 3 attempts, jittered exponential backoff. */
  readonly retry?: Omit<RetryOptions<GrpcResponse>, 'budget'> | false;
  /**
   * The retry budget: a shared `RetryBudget` (the same object can serve an HTTP client of the same
   * downstream), its options, or `false`. Defaults to a new budget of 20% plus 10 retries per second.
   */
  readonly budget?: RetryBudget | RetryBudgetOptions | false;
  /**
   * Hedged unary calls of idempotent methods (see `hedge()` in `@meshkit/policies`): when the first
   * attempt has not answered after a delay, send another; the first answer wins and the rest are
   * cancelled on their servers. Hedges spend from the retry budget. Off by default.
   */
  readonly hedge?: Omit<HedgeOptions, 'budget'> | false;
  /** A circuit breaker per endpoint. Defaults to opening after 5 consecutive failures for 10 s. */
  readonly breaker?: CircuitBreakerOptions | false;
  /** Each unary attempt must finish within this many ms (server streams: their headers). Defaults to 3,000. */
  readonly attemptTimeoutMs?: number | false;
}

/** Options of {@link grpcClient}. */
export interface GrpcClientOptions {
  /** The downstream service's name: looked up in `registry`, shown in `describe()`. */
  readonly service: string;
  /** Where instances come from (those registered with protocol `grpc`); the client follows changes. */
  readonly registry?: Registry;
  /** A fixed list of `host:port` addresses or endpoint records. Give this or `registry`. */
  readonly endpoints?: readonly (string | EndpointInit)[];
  /** How to choose an endpoint per call. Defaults to P2C over peak-EWMA latency. */
  readonly picker?: Picker<GrpcRequest>;
  /** Outlier detection, health checks and panic threshold, passed to `balance()`. */
  readonly balance?: Pick<
    BalanceOptions<GrpcRequest, GrpcResponse>,
    | 'outlierDetection'
    | 'healthCheck'
    | 'panicThresholdPercent'
    | 'initialRttMs'
    | 'ewmaDecayMs'
    | 'discoveryTimeoutMs'
  >;
  readonly policies?: GrpcPolicyOptions;
  /** TLS and mutual TLS for every endpoint. */
  readonly tls?: GrpcClientTlsOptions;
  /** Connection settings of each endpoint's transport. */
  readonly transport?: Omit<GrpcTransportOptions, 'tls'>;
  /** Metadata sent on every call. */
  readonly metadata?: Metadata;
  /**
   * Methods (local names, `getUser`) that are safe to repeat, besides those whose proto declares
   * `idempotency_level` `NO_SIDE_EFFECTS` or `IDEMPOTENT`. Only these are retried after the request may
   * have reached a server; any method is retried when it provably did not (connection refused,
   * `REFUSED_STREAM`, GOAWAY).
   */
  readonly idempotentMethods?: readonly string[];
  /** The clock for deadlines, backoff, breakers and latency. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** Per-call options. */
export interface GrpcCallOptions {
  /** The caller's context (e.g. a server handler's `call.ctx`): its deadline, cancellation and metadata carry over. */
  readonly ctx?: CallContext;
  /** Cancels the call (used when no `ctx` is given). */
  readonly signal?: AbortSignal;
  /** A deadline for this call in ms; can only shorten the context's and the policy's. */
  readonly timeoutMs?: number;
  /** Metadata for this call, over the client's. */
  readonly metadata?: Metadata;
}

/** A typed method of a {@link GrpcClient}. */
export type GrpcClientMethod<M> =
  M extends DescMethodUnary<infer I, infer O>
    ? (request: MessageInitShape<I>, options?: GrpcCallOptions) => Promise<MessageShape<O>>
    : M extends DescMethodServerStreaming<infer I, infer O>
      ? (request: MessageInitShape<I>, options?: GrpcCallOptions) => AsyncIterable<MessageShape<O>>
      : never;

/** The typed client of a generated service: one method per unary or server-streaming rpc, plus controls. */
export type GrpcClient<S extends DescService> = {
  readonly [K in keyof S['method'] as S['method'][K] extends DescMethodUnary | DescMethodServerStreaming
    ? K
    : never]: GrpcClientMethod<S['method'][K]>;
} & {
  /** The composed unary pipeline (policies, balancer, transports), for wrapping in more layers. */
  readonly $service: Service<GrpcRequest, GrpcResponse>;
  /** Live state: layers, budget, endpoints, breakers. */
  $describe(): Record<string, unknown>;
  /** Stops following discovery and closes every connection. */
  $close(): Promise<void>;
};

/**
 * A resilient gRPC client for one downstream service, on the same policy model as the HTTP client:
 * discovery (a registry or a fixed list), client-side balancing (P2C + peak EWMA), an overall deadline
 * sent as `grpc-timeout`, retries with a budget that only repeat what is safe, a circuit breaker per
 * endpoint and a per-attempt timeout, over meshkit's lean `node:http2` transport.
 *
 * Unary methods return the response message; server-streaming methods return an async iterable of
 * messages (breaking out of the loop cancels the call on the server). A non-OK status rejects with a
 * `GrpcStatusError` whose `status` the caller branches on.
 *
 * @example
 * ```ts
 * const users = grpcClient(UserService, { service: 'users', registry });
 * const ada = await users.getUser({ id: '42' }, { timeoutMs: 500 });
 * for await (const event of users.streamUserEvents({ userId: '42' })) console.log(event.type);
 * ```
 */
export function grpcClient<S extends DescService>(definition: S, options: GrpcClientOptions): GrpcClient<S> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('grpcClient', 'options must be an object', options);
  }
  const service = checkString('grpcClient.service', options.service);
  const clock = options.clock ?? systemClock;
  const policies = options.policies ?? {};
  const idempotentNames = new Set(options.idempotentMethods ?? []);
  for (const name of idempotentNames) {
    if (definition.method[name] === undefined) {
      throw new InvalidArgumentError(
        'grpcClient.idempotentMethods',
        `names no method of ${definition.typeName}`,
        name,
      );
    }
  }
  const transportOptions: GrpcTransportOptions = {
    ...options.transport,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  };
  const defaultMetadata = options.metadata;
  const sharedRoot = createContext({ clock });

  const budget: RetryBudget | undefined =
    (policies.retry === false && (policies.hedge === undefined || policies.hedge === false)) ||
    policies.budget === false
      ? undefined
      : policies.budget instanceof RetryBudget
        ? policies.budget
        : new RetryBudget({ clock, ...policies.budget });
  const retryLayer =
    policies.retry === false
      ? undefined
      : retry<GrpcRequest, GrpcResponse>({
          retryOn: isRetryableGrpcError,
          ...policies.retry,
          ...(budget === undefined ? {} : { budget }),
        });
  const hedgeLayer =
    policies.hedge === undefined || policies.hedge === false
      ? undefined
      : hedge<GrpcRequest, GrpcResponse>({ ...policies.hedge, ...(budget === undefined ? {} : { budget }) });
  const deadlineLayer =
    policies.deadlineMs === false
      ? undefined
      : deadline<GrpcRequest, GrpcResponse>({
          timeoutMs: checkNumber('grpcClient.policies.deadlineMs', policies.deadlineMs ?? 10_000, 1),
        });
  const attemptTimeout =
    policies.attemptTimeoutMs === false
      ? undefined
      : timeout<GrpcRequest, GrpcResponse>({
          timeoutMs: checkNumber(
            'grpcClient.policies.attemptTimeoutMs',
            policies.attemptTimeoutMs ?? 3_000,
            1,
          ),
        });
  const breakerOptions = policies.breaker;
  const makeBreaker = (): CircuitBreaker<GrpcRequest, GrpcResponse> | undefined =>
    breakerOptions === false
      ? undefined
      : circuitBreaker<GrpcRequest, GrpcResponse>({ clock, isFailure: isEndpointFailure, ...breakerOptions });

  const balancer: Balancer<GrpcRequest, GrpcResponse> = balance<GrpcRequest, GrpcResponse>({
    service,
    endpoints: endpointsFrom(options, service),
    connect: (endpoint) =>
      endpointService(grpcTransport(endpoint.address, transportOptions), makeBreaker(), attemptTimeout),
    ...(options.picker === undefined ? {} : { picker: options.picker }),
    ...options.balance,
    clock,
  });
  markCancelsPromptly(balancer);

  // Unary calls: deadline → retry → hedge → balancer. Server streams: retry → balancer (no default deadline).
  const unaryLayers = stack<GrpcRequest, GrpcResponse>(
    ...[deadlineLayer, retryLayer, hedgeLayer].filter(
      (l): l is AnyLayer<GrpcRequest, GrpcResponse> => l !== undefined,
    ),
  );
  const streamLayers = stack<GrpcRequest, GrpcResponse>(
    ...[retryLayer].filter((l): l is AnyLayer<GrpcRequest, GrpcResponse> => l !== undefined),
  );
  const unary = unaryLayers.wrap(balancer);
  const streaming = streamLayers.wrap(balancer);

  const contextFor = (method: DescMethod, callOptions: GrpcCallOptions | undefined): CallContext => {
    const signal = callOptions?.signal;
    let ctx = callOptions?.ctx ?? (signal === undefined ? sharedRoot : createContext({ clock, signal }));
    if (callOptions?.timeoutMs !== undefined)
      ctx = ctx.withTimeout(checkNumber('timeoutMs', callOptions.timeoutMs, 0));
    const idempotent =
      method.idempotency !== MethodOptions_IdempotencyLevel.IDEMPOTENCY_UNKNOWN ||
      idempotentNames.has(method.localName);
    return ctx.idempotent === idempotent ? ctx : ctx.with({ idempotent });
  };
  const requestFor = (
    method: DescMethod,
    init: unknown,
    callOptions: GrpcCallOptions | undefined,
  ): GrpcRequest => {
    const message = create(method.input as DescMessage, init as MessageInitShape<DescMessage>);
    const metadata =
      callOptions?.metadata === undefined
        ? defaultMetadata
        : defaultMetadata === undefined
          ? callOptions.metadata
          : { ...defaultMetadata, ...callOptions.metadata };
    return metadata === undefined ? { method, message } : { method, message, metadata };
  };

  const methods: Record<string, unknown> = {};
  for (const method of definition.methods) {
    if (method.methodKind === 'unary') {
      methods[method.localName] = (init: unknown, callOptions?: GrpcCallOptions) => {
        try {
          const req = requestFor(method, init, callOptions);
          return unary(req, contextFor(method, callOptions)).then(
            (res) => (res as GrpcUnaryResponse).message,
          );
        } catch (error) {
          return Promise.reject(error);
        }
      };
    } else if (method.methodKind === 'server_streaming') {
      methods[method.localName] = (init: unknown, callOptions?: GrpcCallOptions): AsyncIterable<unknown> => ({
        async *[Symbol.asyncIterator]() {
          const req = requestFor(method, init, callOptions);
          const res = (await streaming(req, contextFor(method, callOptions))) as GrpcStreamResponse;
          yield* res.messages;
        },
      });
    }
  }
  return Object.assign(methods, {
    $service: unary,
    $describe: () => ({
      service,
      ...unaryLayers.describe?.(),
      ...(budget === undefined ? {} : { budget: budget.describe() }),
      balancer: balancer.describe(),
    }),
    $close: () => balancer.close(),
  }) as unknown as GrpcClient<S>;
}

/**
 * One endpoint's service: its own breaker (one bad instance opens only its own circuit), the per-attempt
 * timeout for unary calls, then the transport. An open circuit reports the endpoint `closed`, so the
 * balancer skips it before sending anything.
 */
function endpointService(
  transport: ReturnType<typeof grpcTransport>,
  breaker: CircuitBreaker<GrpcRequest, GrpcResponse> | undefined,
  attemptTimeout: AnyLayer<GrpcRequest, GrpcResponse> | undefined,
): EndpointService<GrpcRequest, GrpcResponse> {
  const timed = attemptTimeout === undefined ? transport : attemptTimeout.wrap(transport);
  const unary = breaker === undefined ? timed : breaker.wrap(timed);
  const streaming = breaker === undefined ? transport : breaker.wrap(transport);
  const readiness = (): Readiness => {
    const state = breaker?.state;
    return state === 'open' || state === 'isolated' ? 'closed' : 'ready';
  };
  const call = Object.assign(
    (req: GrpcRequest, ctx: CallContext) => (req.method.methodKind === 'unary' ? unary : streaming)(req, ctx),
    { readiness, close: () => transport.close() },
  );
  return inheritCancelsPromptly(unary, call);
}

function endpointsFrom(
  options: GrpcClientOptions,
  service: string,
): readonly EndpointInit[] | AsyncIterable<readonly EndpointInit[]> {
  if (options.registry !== undefined && options.endpoints !== undefined) {
    throw new InvalidArgumentError('grpcClient.endpoints', 'cannot be combined with registry');
  }
  if (options.registry !== undefined) return endpointSets(options.registry, service, { protocol: 'grpc' });
  const list = options.endpoints;
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError(
      'grpcClient.endpoints',
      'must be a non-empty array (or give a registry)',
      list,
    );
  }
  return list.map((e, i) =>
    typeof e === 'string' ? { id: e, address: checkString(`grpcClient.endpoints[${i}]`, e) } : e,
  );
}
