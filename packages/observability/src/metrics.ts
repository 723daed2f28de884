import { InvalidArgumentError } from '@meshkit/core';
import { Registry } from 'prom-client';
import { LabelCap } from './cardinality.ts';
import { exchangeMetrics } from './exchange-metrics.ts';
import { messagingMetrics } from './messaging-metrics.ts';
import { policyMetrics } from './policy-metrics.ts';
import { Subscriptions } from './subscriptions.ts';

/** Options of {@link metrics}. */
export interface MetricsOptions {
  /** The registry to register on. Defaults to a new `Registry` (never prom-client's global one). */
  readonly registry?: Registry;
  /**
   * Most distinct values one label (route, endpoint, service, destination, ...) may take; later new
   * values are counted under `other`. Defaults to 100.
   */
  readonly maxLabelValues?: number;
}

/** A running metrics subscriber. */
export interface Metrics {
  /** The registry the metrics live on: serve `registry.metrics()` (see `metricsResponse`). */
  readonly registry: Registry;
  /** Unsubscribes from every channel; the metrics keep their last values. */
  close(): void;
}

/**
 * Prometheus metrics from meshkit's diagnostics channels, on a registry of your own: client and server
 * requests on HTTP and gRPC (first attempts apart from retries and hedges, and the retry amplification
 * ratio), retry budget, breakers, bulkheads, outlier ejections, balancer picks, messaging (publish
 * confirm latency, consumed messages and handler latency, retries, redeliveries, dead letters, Kafka
 * lag) and the outbox backlog. Names and labels follow the OpenTelemetry semantic conventions in
 * Prometheus form (`http_client_request_duration_seconds` with `http_request_method`, ...). Every label
 * with open-ended values is capped at `maxLabelValues` distinct values (the rest become `other`), and
 * routes are templates, never raw paths.
 *
 * @example
 * ```ts
 * const observed = metrics();
 * // ... later, on GET /metrics:
 * const text = await observed.registry.metrics();
 * observed.close();
 * ```
 */
export function metrics(options: MetricsOptions = {}): Metrics {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('metrics', 'options must be an object', options);
  }
  const registry = options.registry ?? new Registry();
  if (!(registry instanceof Registry)) {
    throw new InvalidArgumentError('metrics.registry', 'must be a prom-client Registry', registry);
  }
  const maxValues = options.maxLabelValues ?? 100;
  if (!Number.isInteger(maxValues) || maxValues < 1) {
    throw new InvalidArgumentError('metrics.maxLabelValues', 'must be an integer >= 1', maxValues);
  }
  const caps = new Map<string, LabelCap>();
  /** `value` bounded by the cap of the label `name`. */
  const cap = (name: string, value: string): string => {
    // An empty value means "not known" (no route template): one value, outside the cap.
    if (value === '') return value;
    let c = caps.get(name);
    if (c === undefined) {
      c = new LabelCap('metrics.maxLabelValues', maxValues);
      caps.set(name, c);
    }
    return c.bound(value);
  };

  const subs = new Subscriptions();
  const context = { registry, subs, cap };
  exchangeMetrics(context);
  policyMetrics(context);
  messagingMetrics(context);
  return { registry, close: () => subs.close() };
}
