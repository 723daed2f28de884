/**
 * `@meshkit/observability`: subscribers to meshkit's diagnostics channels. `metrics()` keeps Prometheus
 * metrics on a registry of your own, `tracing()` writes OpenTelemetry spans linked across hops by
 * `traceparent`, `logs()` writes one pino line per notable decision. Nothing is observed until one of
 * them runs, and `close()` leaves the channels without subscribers again.
 */
export { LabelCap, otherLabel } from './cardinality.ts';
export { type Logs, type LogsOptions, logs } from './logs.ts';
export { durationBuckets } from './metric-families.ts';
export { type Metrics, type MetricsOptions, metrics } from './metrics.ts';
export { type MetricsResponse, metricsResponse } from './metrics-handler.ts';
export { type ExchangeOutcome, outcomeOf } from './outcome.ts';
export { samplerFromEnv } from './sampler-from-env.ts';
export { type Tracing, type TracingOptions, tracing } from './tracing.ts';
