import { type Balancer, balance, type EndpointService } from '@meshkit/balance';
import {
  type AnyLayer,
  type CallContext,
  type Clock,
  checkNumber,
  checkString,
  type EndpointInit,
  InvalidArgumentError,
  inheritCancelsPromptly,
  markCancelsPromptly,
  type Readiness,
  type Service,
  stack,
} from '@meshkit/core';
import { endpointSets } from '@meshkit/discovery';
import {
  type CircuitBreaker,
  circuitBreaker,
  deadline,
  hedge,
  RetryBudget,
  retry,
  timeout,
} from '@meshkit/policies';
import { isEndpointFailure, isRetryableGrpcError } from './failures.ts';
import type { GrpcClientOptions } from './options.ts';
import { type GrpcTransportOptions, grpcTransport } from './transport.ts';
import type { GrpcRequest, GrpcResponse } from './types.ts';

/** The composed services a client sends its calls through. */
export interface GrpcPipeline {
  /** Unary calls: deadline → retry → hedge → balancer → per-endpoint breaker → attempt timeout → transport. */
  readonly unary: Service<GrpcRequest, GrpcResponse>;
  /** Server streams: retry (until the response headers) → balancer → per-endpoint breaker → transport. */
  readonly streaming: Service<GrpcRequest, GrpcResponse>;
  /** Live state: layers, budget, endpoints, breakers. */
  describe(): Record<string, unknown>;
  /** Stops following discovery and closes every connection. */
  close(): Promise<void>;
}

/**
 * Builds the transport-neutral client pipeline over gRPC transports, from `balance()` and the policies:
 * the same parts, in the same order, as the HTTP client's.
 */
export function grpcPipeline(
  options: GrpcClientOptions,
  service: string,
  clock: Clock,
  transportOptions: GrpcTransportOptions,
): GrpcPipeline {
  const policies = options.policies ?? {};
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

  return {
    unary,
    streaming,
    describe: () => ({
      ...unaryLayers.describe?.(),
      ...(budget === undefined ? {} : { budget: budget.describe() }),
      balancer: balancer.describe(),
    }),
    close: () => balancer.close(),
  };
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
