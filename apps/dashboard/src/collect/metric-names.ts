/**
 * The one place that knows the metric names and labels `@meshkit/observability` exposes at `/metrics`,
 * and how their values map onto the dashboard's model. Realign this file, and only this file, when those
 * names change.
 *
 * Client metrics are recorded by the calling process: the caller is the scraped instance's own
 * service, the callee is the `service` label. Server metrics are recorded by the called process.
 */

/** Metric family names (histograms without the `_bucket`/`_sum`/`_count` suffix). */
export const metricNames = {
  /** counter {service, route, subset, endpoint, method, outcome, attempt}: tries made by clients. */
  clientRequests: 'meshkit_client_requests_total',
  /** histogram {service, route, subset, endpoint, method, outcome}, seconds: one try, as the client saw it. */
  clientDuration: 'meshkit_client_request_duration_seconds',
  /** counter {route, method, outcome}: requests a server answered (its own service is the instance's). */
  serverRequests: 'meshkit_server_requests_total',
  /** histogram {route, method, outcome}, seconds. */
  serverDuration: 'meshkit_server_request_duration_seconds',
  /** gauge {service}: retries the client's shared retry budget still allows. */
  retryBudgetAvailable: 'meshkit_retry_budget_available',
  /** counter {service}: retries refused because the budget was spent. */
  retryBudgetExhausted: 'meshkit_retry_budget_exhausted_total',
  /** gauge {service, endpoint}: the per-endpoint breaker, encoded by {@link breakerStateOf}. */
  breakerState: 'meshkit_circuit_breaker_state',
  /** gauge {service, subset}: tries in flight in the bulkhead. */
  bulkheadInFlight: 'meshkit_bulkhead_in_flight',
  /** counter {service, subset}: tries refused by a full bulkhead. */
  bulkheadRejected: 'meshkit_bulkhead_rejected_total',
  /** gauge {service, endpoint}: 1 while outlier detection ejects the endpoint. */
  outlierEjected: 'meshkit_outlier_ejected',
  /** counter {service, endpoint}: ejections so far. */
  outlierEjections: 'meshkit_outlier_ejections_total',
  /** counter {service, subset, endpoint}: balancer picks. */
  balancerPicks: 'meshkit_balancer_picks_total',
  /** counter {topic, outcome}: messages published (outcome success or error). */
  messagesPublished: 'meshkit_messaging_published_total',
  /** counter {topic, subscription, outcome}: deliveries handled by consumers. */
  messagesConsumed: 'meshkit_messaging_consumed_total',
  /** counter {topic, subscription}: messages moved to the dead-letter queue. */
  deadLetters: 'meshkit_messaging_dead_letters_total',
  /** gauge {topic, subscription}: messages waiting for the subscription. */
  consumerLag: 'meshkit_messaging_consumer_lag',
  /** gauge {}: outbox rows not yet published. */
  outboxBacklog: 'meshkit_outbox_backlog',
} as const;

/** Label names used above. */
export const labelNames = {
  service: 'service',
  route: 'route',
  subset: 'subset',
  endpoint: 'endpoint',
  method: 'method',
  outcome: 'outcome',
  attempt: 'attempt',
  topic: 'topic',
  subscription: 'subscription',
} as const;

/** What kind of try a client request was (`attempt` label). */
export type AttemptKind = 'first' | 'retry' | 'hedge';

/** Reads the `attempt` label; anything unknown counts as a first try. */
export function attemptKindOf(label: string | undefined): AttemptKind {
  return label === 'retry' || label === 'hedge' ? label : 'first';
}

/**
 * Whether an `outcome` label counts as an error: core's endpoint outcomes `error`, `gateway` and
 * `local` do; `success` and `ignore` (4xx, cancellations, meshkit's own refusals) do not.
 */
export function isErrorOutcome(outcome: string | undefined): boolean {
  return outcome === 'error' || outcome === 'gateway' || outcome === 'local';
}

/** A circuit breaker's state as shown. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Decodes {@link metricNames.breakerState}: 0 closed, 1 open, 2 half-open. */
export function breakerStateOf(value: number): BreakerState {
  if (value === 1) return 'open';
  if (value === 2) return 'half-open';
  return 'closed';
}

/** The value {@link metricNames.breakerState} takes for `state` (the inverse of {@link breakerStateOf}). */
export function breakerStateValue(state: BreakerState): number {
  return state === 'open' ? 1 : state === 'half-open' ? 2 : 0;
}
