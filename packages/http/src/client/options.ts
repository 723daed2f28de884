import type { BalanceOptions, Picker } from '@meshkit/balance';
import type { ClientPolicyOptions } from '@meshkit/client';
import type { Clock, Layer } from '@meshkit/core';
import type { Registry } from '@meshkit/discovery';
import type { TlsOptions } from '../tls.ts';
import type { HttpTransportOptions } from '../transport.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';

/**
 * The resilience policies of a client, applied in this order (request order):
 * overall deadline → retry with budget → balancer → per-endpoint breaker → per-attempt timeout → transport.
 * Each can be turned off with `false`.
 */
export type HttpPolicyOptions = ClientPolicyOptions<HttpResponse>;

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
  /** The routing layer (for instance from `@meshkit/routing`): sees each request first. */
  readonly route?: Layer<HttpRequest, HttpResponse>;
  /** Your own layers, after the route and before the overall deadline. */
  readonly layers?: readonly Layer<HttpRequest, HttpResponse>[];
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
  /** The clock for deadlines, backoff, breakers and latency. Defaults to the system clock. */
  readonly clock?: Clock;
}
