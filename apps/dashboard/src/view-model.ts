/**
 * What the dashboard server sends to the page (as JSON, over server-sent events): one snapshot of the
 * mesh. Rates are per second over the collector's rate window; latencies are in milliseconds; `null`
 * means "no traffic to measure".
 */

/** A circuit breaker's state. */
export type BreakerStateView = 'closed' | 'open' | 'half-open';

/** One registered instance, as the registry lists it. */
export interface InstanceView {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly version: string | null;
  readonly health: 'passing' | 'critical';
  /** Whether its last scrape of `/metrics` succeeded. */
  readonly scraped: boolean;
  /** Why the last scrape failed. */
  readonly scrapeError: string | null;
}

/** Request traffic over the rate window. */
export interface TrafficView {
  /** Requests per second. */
  readonly rate: number;
  /** Share of requests that failed, 0..1 (`null` without traffic). */
  readonly errorRatio: number | null;
  /** 99th percentile latency in ms, from histogram buckets (`null` without traffic). */
  readonly p99Ms: number | null;
}

/** One endpoint of a service, as its callers see it. */
export interface EndpointView extends TrafficView {
  /** The `endpoint` label (an instance id or address:port). */
  readonly endpoint: string;
  readonly subset: string | null;
  /** The registry's health of the matching instance; `unknown` when no instance matches. */
  readonly health: 'passing' | 'critical' | 'unknown';
  /** The worst breaker state any caller reports. */
  readonly breaker: BreakerStateView;
  /** Callers whose breaker for it is not closed. */
  readonly breakerOpenIn: number;
  /** Whether a caller's outlier detection ejected it within the rate window. */
  readonly ejected: boolean;
  /** Ejections within the rate window, summed over callers. */
  readonly ejections: number;
  /** Tries callers have in flight to it now. */
  readonly inFlight: number;
}

/** One service: its instances, the traffic it served, its endpoints as callers see them. */
export interface ServiceView {
  readonly name: string;
  readonly instances: readonly InstanceView[];
  /** What its servers report (falls back to what its callers saw when it exposes no server metrics). */
  readonly traffic: TrafficView;
  readonly endpoints: readonly EndpointView[];
  /** Tries callers have in flight toward it now. */
  readonly inFlight: number;
  /** Tries per second refused by callers' bulkheads toward it. */
  readonly bulkheadRejectedRate: number;
}

/** Calls from one service to another. */
export interface EdgeView extends TrafficView {
  readonly from: string;
  readonly to: string;
}

/** One destination of a route rule, with its configured weight. */
export interface RouteDestinationView {
  readonly subset: string;
  /** Percent, 0..100. */
  readonly weight: number;
}

/** One http rule of a VirtualService. */
export interface RouteRuleView {
  readonly name: string;
  /** A short description of the match (`header x-canary=true`, `all requests`). */
  readonly match: string;
  readonly destinations: readonly RouteDestinationView[];
}

/** The observed share of first tries that went to a subset. */
export interface ObservedSplitView {
  readonly subset: string;
  /** Percent, 0..100. */
  readonly percent: number;
  readonly rate: number;
}

/** A routed host: configured rules and the split observed in callers' metrics. */
export interface RouteView {
  readonly host: string;
  readonly virtualService: string;
  readonly rules: readonly RouteRuleView[];
  readonly observed: readonly ObservedSplitView[];
}

/** Retries toward one service. */
export interface RetryView {
  readonly service: string;
  /** First tries per second. */
  readonly firstRate: number;
  readonly retryRate: number;
  readonly hedgeRate: number;
  /** Tries per first try (1 = no retries); `null` without traffic. */
  readonly amplification: number | null;
}

/** One retry budget (clients share one per budget name). */
export interface BudgetView {
  readonly budget: string;
  /** The lowest number of retries left among the processes that report it; `null` when none does. */
  readonly available: number | null;
  /** Retries and hedges per second it refused. */
  readonly exhaustedRate: number;
}

/** One topic (its publishers, `group` null), or one consumer group of it. */
export interface TopicView {
  readonly topic: string;
  readonly group: string | null;
  readonly publishRate: number;
  readonly publishErrorRate: number;
  readonly consumeRate: number;
  readonly consumeErrorRate: number;
  readonly deadLetterRate: number;
  /** Dead letters counted since the dashboard started. */
  readonly deadLetters: number;
  /** Messages the group has not consumed (summed over partitions); `null` where the broker does not report it. */
  readonly lag: number | null;
}

/** Outbox rows not yet published, per outbox owner. */
export interface OutboxView {
  readonly owner: string;
  readonly backlog: number;
}

/** p99 latency over time for the busiest services (callee side). */
export interface LatencyHistoryView {
  /** Unix seconds, oldest first. */
  readonly times: readonly number[];
  readonly series: readonly { readonly service: string; readonly p99Ms: readonly (number | null)[] }[];
}

/** One snapshot of the mesh. */
export interface DashboardSnapshot {
  /** Unix ms of the scrape it summarises. */
  readonly at: number;
  readonly rateWindowMs: number;
  readonly services: readonly ServiceView[];
  readonly edges: readonly EdgeView[];
  readonly routes: readonly RouteView[];
  readonly retries: readonly RetryView[];
  readonly budgets: readonly BudgetView[];
  readonly topics: readonly TopicView[];
  readonly outbox: readonly OutboxView[];
  readonly latency: LatencyHistoryView;
  /** Findings about the routes file (warnings and errors), as text. */
  readonly routeIssues: readonly string[];
}
