import type { BalanceOptions, Picker } from '@meshkit/balance';
import type { Clock, Layer } from '@meshkit/core';
import type { Registry } from '@meshkit/discovery';
import type { CircuitBreakerOptions, RetryBudget, RetryBudgetOptions, RetryOptions } from '@meshkit/policies';
import type { TlsOptions } from '../tls.ts';
import type { HttpTransportOptions } from '../transport.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';

/**
 * The resilience policies of a client, applied in this order (request order):
 * overall deadline → retry with budget → balancer → per-endpoint breaker → per-attempt timeout → transport.
 * Each can be turned off with `false`.
 */
export interface HttpPolicyOptions {
  /** The whole call, every retry included, must finish within this many ms. Defaults to 10,000. */
  readonly deadlineMs?: number | false;
  /** Retries (see `retry()` in `@meshkit/policies`). Defaults to 3 attempts, jittered exponential backoff. */
  readonly retry?: Omit<RetryOptions<HttpResponse>, 'budget'> | false;
  /**
   * The retry budget: a shared `RetryBudget` (share one per downstream service), its options, or `false`.
   * Defaults to a new budget of 20% plus 10 retries per second.
   */
  readonly budget?: RetryBudget | RetryBudgetOptions | false;
  /** A circuit breaker per endpoint. Defaults to opening after 5 consecutive failures for 10 s. */
  readonly breaker?: CircuitBreakerOptions | false;
  /** Each attempt must finish within this many ms. Defaults to 3,000. */
  readonly attemptTimeoutMs?: number | false;
}

/** Options of {@link httpClient}. */
export interface HttpClientOptions {
  /** The downstream service's name: looked up in `registry`, shown in errors and `describe()`. */
  readonly service: string;
  /** Where instances come from; the client follows its changes. Give this or `endpoints`. */
  readonly registry?: Registry;
  /** A fixed list of `host:port` addresses, URLs or endpoint records. Give this or `registry`. */
  readonly endpoints?: readonly (
    | string
    | {
        readonly id: string;
        readonly address: string;
        readonly weight?: number;
        readonly labels?: Readonly<Record<string, string>>;
      }
  )[];
  /** How to choose an endpoint per call. Defaults to P2C over peak-EWMA latency. */
  readonly picker?: Picker<HttpRequest>;
  /** Outlier detection, active health checks and panic threshold, passed to `balance()`. */
  readonly balance?: Pick<
    BalanceOptions<HttpRequest, HttpResponse>,
    | 'outlierDetection'
    | 'healthCheck'
    | 'panicThresholdPercent'
    | 'initialRttMs'
    | 'ewmaDecayMs'
    | 'discoveryTimeoutMs'
  >;
  readonly policies?: HttpPolicyOptions;
  /** TLS and mutual TLS for every endpoint (shortcut for `transport.tls`). */
  readonly tls?: TlsOptions;
  /** Connection settings: connect timeout, keep-alive, connections per endpoint, retryable statuses. */
  readonly transport?: Omit<HttpTransportOptions, 'tls'>;
  /** Headers sent on every request (lower-case names). */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Give every POST and PATCH an `Idempotency-Key` (a random UUID per logical call, the same on every
   * attempt), which makes them retryable against servers that honour it. Defaults to `false`.
   */
  readonly autoIdempotencyKey?: boolean;
  /**
   * The routing layer (`routing()` from `@meshkit/routing` with `httpRouteAdapter`): each call goes to its
   * route's subset (endpoint labels), with the route's `timeout` and `retries` in place of `deadlineMs` and
   * `retry` (still drawing on the budget). The default picker becomes label subsets, each balanced as the
   * subset's DestinationRule `loadBalancer` says (P2C + peak EWMA when it says nothing). No routing
   * by default.
   */
  readonly route?: Layer<HttpRequest, HttpResponse>;
  /** The clock for deadlines, backoff, breakers and latency. Defaults to the system clock. */
  readonly clock?: Clock;
}
