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
  /** Whether any caller's outlier detection ejects it. */
  readonly ejected: boolean;
}

/** One service: its instances, the traffic it served, its endpoints as callers see them. */
export interface ServiceView {
  readonly name: string;
  readonly instances: readonly InstanceView[];
  /** What its servers report (falls back to what its callers saw when it exposes no server metrics). */
  readonly traffic: TrafficView;
  readonly endpoints: readonly EndpointView[];
  /** Tries in flight in callers' bulkheads toward it. */
  readonly bulkheadInFlight: number;
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
  /** The lowest retry budget left among callers; `null` when none reports one. */
  readonly budgetAvailable: number | null;
  /** Retries per second refused by the budget. */
  readonly budgetExhaustedRate: number;
}

/** One topic, or one subscription of it. */
export interface TopicView {
  readonly topic: string;
  readonly subscription: string | null;
  readonly publishRate: number;
  readonly publishErrorRate: number;
  readonly consumeRate: number;
  readonly consumeErrorRate: number;
  readonly deadLetterRate: number;
  /** Dead letters counted since the dashboard started. */
  readonly deadLetters: number;
  /** Messages waiting (the highest any consumer instance reports); `null` when none reports. */
  readonly lag: number | null;
}

/** Outbox rows not yet published, per service. */
export interface OutboxView {
  readonly service: string;
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
  readonly topics: readonly TopicView[];
  readonly outbox: readonly OutboxView[];
  readonly latency: LatencyHistoryView;
  /** Findings about the routes file (warnings and errors), as text. */
  readonly routeIssues: readonly string[];
}
