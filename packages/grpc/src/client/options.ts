import type { BalanceOptions, Picker } from '@meshkit/balance';
import type { Clock, EndpointInit, Layer, Metadata } from '@meshkit/core';
import type { Registry } from '@meshkit/discovery';
import type {
  BulkheadOptions,
  CircuitBreakerOptions,
  HedgeOptions,
  RetryBudget,
  RetryBudgetOptions,
  RetryOptions,
} from '@meshkit/policies';
import type { GrpcClientTlsOptions } from './connection.ts';
import type { GrpcTransportOptions } from './transport.ts';
import type { GrpcRequest, GrpcResponse } from './types.ts';

/**
 * The policies of a client, in request order (`clientStack()` from `@meshkit/client`, as HTTP's):
 * overall deadline → hedge → retry with budget → balancer → per-endpoint breaker, bulkhead, attempt
 * timeout → transport. Each can be turned off with `false`.
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
   * Hedged unary calls of idempotent methods (the client stack's hedge slot, `hedge()` in
   * `@meshkit/policies`): when the first attempt has not answered after a delay, send another, to another
   * endpoint when there is one; the first answer wins and the rest are cancelled on their servers.
   * Hedges spend from the retry budget. Off by default.
   */
  readonly hedge?: Omit<HedgeOptions, 'budget' | 'deposit'> | false;
  /** A circuit breaker per endpoint. Defaults to opening after 5 consecutive failures for 10 s. */
  readonly breaker?: CircuitBreakerOptions | false;
  /** A bulkhead per endpoint (concurrency limit and queue). Off by default. */
  readonly bulkhead?: BulkheadOptions | false;
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
  /**
   * The routing layer: `routing({ routes, host, adapter: grpcRouteAdapter })` from `@meshkit/routing`,
   * in the client pipeline's route slot as `httpClient`'s. Istio `VirtualService` rules then match the
   * call's `/package.Service/Method` path and metadata; the route's `timeout` and `retries` (with gRPC
   * `retryOn` conditions such as `unavailable`) replace `deadlineMs` and `retry` for its calls, and each
   * call goes to its route's subset (instances registered with that `version` label), balanced as the
   * subset's `DestinationRule` says.
   */
  readonly route?: Layer<GrpcRequest, GrpcResponse>;
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
  /** Your own layers, after the route and before the deadline. */
  readonly layers?: readonly Layer<GrpcRequest, GrpcResponse>[];
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
