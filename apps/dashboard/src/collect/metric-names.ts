/**
 * The one place that knows the metric names and labels `@meshkit/observability` exposes at `/metrics`
 * (OpenTelemetry semantic conventions in Prometheus form, plus `meshkit_*`), and how each sample maps
 * onto the dashboard's facts. Realign this file, and only this file, when those names change.
 *
 * Client metrics are recorded by the calling process: the caller is the scraped instance's own
 * service, the callee the `service` label.
 */
import type { AttemptKind, BreakerState, CounterFact, GaugeFact } from './facts.ts';
import type { Sample } from './prom-text.ts';

/** Metric family names (histograms without their `_bucket`/`_count`/`_sum` suffix). */
export const metricNames = {
  /** histogram, one per try: {service, subset, endpoint, server_address, http_request_method, http_route, http_response_status_code, attempt_kind, outcome}. */
  httpClient: 'http_client_request_duration_seconds',
  /** histogram, one per try: {service, subset, endpoint, server_address, rpc_system, rpc_service, rpc_method, rpc_grpc_status_code, attempt_kind, outcome}. */
  rpcClient: 'rpc_client_duration_seconds',
  /** histogram: {service, http_request_method, http_route, http_response_status_code}. */
  httpServer: 'http_server_request_duration_seconds',
  /** histogram: {service, rpc_system, rpc_service, rpc_method, rpc_grpc_status_code}. */
  rpcServer: 'rpc_server_duration_seconds',
  /** counter {layer, budget}. */
  budgetExhausted: 'meshkit_retry_budget_exhausted_total',
  /** gauge {budget}: retries the budget still allows (not exposed yet; read when it is). */
  budgetAvailable: 'meshkit_retry_budget_available',
  /** gauge {service, endpoint, state}: 1 for the current state, 0 for the others. */
  breakerState: 'meshkit_circuit_breaker_state',
  /** counter {service, endpoint}. */
  bulkheadRejections: 'meshkit_bulkhead_rejections_total',
  /** gauge {service, endpoint}: attempts in flight (what the bulkhead holds). */
  attemptsInFlight: 'meshkit_client_attempts_in_flight',
  /** counter {service, endpoint}. */
  ejections: 'meshkit_outlier_ejections_total',
  /** counter {messaging_destination_name, outcome}. */
  sent: 'messaging_client_sent_messages_total',
  /** counter {messaging_destination_name, messaging_consumer_group_name, settlement}. */
  consumed: 'messaging_client_consumed_messages_total',
  /** counter {messaging_destination_name, messaging_consumer_group_name, reason}. */
  deadLetters: 'meshkit_messaging_dead_letters_total',
  /** gauge {messaging_consumer_group_name, messaging_destination_partition_id}. */
  consumerLag: 'messaging_consumer_lag',
  /** gauge {owner}. */
  outboxBacklog: 'meshkit_outbox_backlog',
} as const;

const M = metricNames;

/** An `outcome` that counts as an error: `error` and `timeout` (not `success`, `cancelled`, `rejected`). */
export function isErrorOutcome(outcome: string | undefined): boolean {
  return outcome === 'error' || outcome === 'timeout';
}

/** gRPC codes that count as a server error: UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
const grpcServerErrors = new Set(['2', '4', '13', '14', '15']);

function attemptKind(label: string | undefined): AttemptKind {
  return label === 'retry' || label === 'hedge' ? label : 'first';
}

function bound(le: string | undefined): number | undefined {
  if (le === undefined) return undefined;
  if (le === '+Inf') return Number.POSITIVE_INFINITY;
  const value = Number(le);
  return Number.isFinite(value) ? value : undefined;
}

const orNull = (value: string | undefined): string | null =>
  value === undefined || value === '' ? null : value;

/** Maps a counting sample to its fact; `undefined` for samples the dashboard does not read. */
export function counterFact(sample: Sample): CounterFact | undefined {
  const l = sample.labels;
  switch (sample.name) {
    case `${M.httpClient}_count`:
    case `${M.rpcClient}_count`:
      return {
        kind: 'client-tries',
        to: l.service || 'unknown',
        subset: orNull(l.subset),
        endpoint: orNull(l.endpoint),
        attempt: attemptKind(l.attempt_kind),
        error: isErrorOutcome(l.outcome),
      };
    case `${M.httpClient}_bucket`:
    case `${M.rpcClient}_bucket`: {
      const le = bound(l.le);
      return le === undefined
        ? undefined
        : { kind: 'client-bucket', to: l.service || 'unknown', endpoint: orNull(l.endpoint), le };
    }
    case `${M.httpServer}_count`:
      return {
        kind: 'server-requests',
        service: orNull(l.service),
        error: Number(l.http_response_status_code) >= 500,
      };
    case `${M.rpcServer}_count`:
      return {
        kind: 'server-requests',
        service: orNull(l.service),
        error: grpcServerErrors.has(l.rpc_grpc_status_code ?? ''),
      };
    case `${M.httpServer}_bucket`:
    case `${M.rpcServer}_bucket`: {
      const le = bound(l.le);
      return le === undefined ? undefined : { kind: 'server-bucket', service: orNull(l.service), le };
    }
    case M.budgetExhausted:
      return { kind: 'budget-exhausted', budget: l.budget || l.layer || 'retry budget' };
    case M.bulkheadRejections:
      return { kind: 'bulkhead-rejected', to: l.service || 'unknown', endpoint: orNull(l.endpoint) };
    case M.ejections:
      return l.endpoint ? { kind: 'ejections', to: l.service || 'unknown', endpoint: l.endpoint } : undefined;
    case M.sent:
      return {
        kind: 'published',
        topic: l.messaging_destination_name || 'unknown',
        error: l.outcome !== 'success',
      };
    case M.consumed:
      return {
        kind: 'consumed',
        topic: l.messaging_destination_name || 'unknown',
        group: l.messaging_consumer_group_name || '',
        error: l.settlement !== 'ack',
      };
    case M.deadLetters:
      return {
        kind: 'dead-letters',
        topic: l.messaging_destination_name || 'unknown',
        group: l.messaging_consumer_group_name || '',
      };
  }
  return undefined;
}

/** Maps a gauge sample to its fact; `undefined` for samples the dashboard does not read. */
export function gaugeFact(sample: Sample): GaugeFact | undefined {
  const l = sample.labels;
  switch (sample.name) {
    case M.breakerState: {
      // One-hot: only the current state's series is 1. `isolated` (opened by hand) shows as open.
      if (sample.value !== 1 || !l.endpoint) return undefined;
      const state: BreakerState | undefined =
        l.state === 'closed'
          ? 'closed'
          : l.state === 'half-open'
            ? 'half-open'
            : l.state === 'open' || l.state === 'isolated'
              ? 'open'
              : undefined;
      return state === undefined
        ? undefined
        : { kind: 'breaker', to: l.service || 'unknown', endpoint: l.endpoint, state };
    }
    case M.budgetAvailable:
      return { kind: 'budget-available', budget: l.budget || 'retry budget' };
    case M.attemptsInFlight:
      return { kind: 'in-flight', to: l.service || 'unknown', endpoint: orNull(l.endpoint) };
    case M.consumerLag:
      return {
        kind: 'lag',
        group: l.messaging_consumer_group_name || '',
        partition: l.messaging_destination_partition_id || '',
      };
    case M.outboxBacklog:
      return { kind: 'outbox', owner: l.owner || 'outbox' };
  }
  return undefined;
}
