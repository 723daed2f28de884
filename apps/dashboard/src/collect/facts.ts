/**
 * What the dashboard reads out of a metric sample, whatever the metric is called: the model side of
 * `metric-names.ts`, which maps names and labels onto these facts.
 */

/** What kind of try a client request was. */
export type AttemptKind = 'first' | 'retry' | 'hedge';

/** A circuit breaker's state as shown. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** A counting sample (a counter, or a histogram's `_count` or `_bucket`); its increase is what counts. */
export type CounterFact =
  /** Tries a client sent to service `to` (the caller is the scraped instance's service). */
  | {
      readonly kind: 'client-tries';
      readonly to: string;
      readonly subset: string | null;
      readonly endpoint: string | null;
      readonly attempt: AttemptKind;
      readonly error: boolean;
    }
  /** One latency bucket of those tries; `le` in seconds. */
  | {
      readonly kind: 'client-bucket';
      readonly to: string;
      readonly endpoint: string | null;
      readonly le: number;
    }
  /** Requests a server answered; `service` when the metric names it, else the scraped instance's. */
  | { readonly kind: 'server-requests'; readonly service: string | null; readonly error: boolean }
  | { readonly kind: 'server-bucket'; readonly service: string | null; readonly le: number }
  /** Retries or hedges refused because retry budget `budget` was spent. */
  | { readonly kind: 'budget-exhausted'; readonly budget: string }
  | { readonly kind: 'bulkhead-rejected'; readonly to: string; readonly endpoint: string | null }
  | { readonly kind: 'ejections'; readonly to: string; readonly endpoint: string }
  | { readonly kind: 'published'; readonly topic: string; readonly error: boolean }
  | { readonly kind: 'consumed'; readonly topic: string; readonly group: string; readonly error: boolean }
  | { readonly kind: 'dead-letters'; readonly topic: string; readonly group: string };

/** A gauge sample, read from the latest scrape; the sample's value goes with it. */
export type GaugeFact =
  /** The breaker of `endpoint` of service `to` is in `state` (one-hot gauges yield only the current state). */
  | { readonly kind: 'breaker'; readonly to: string; readonly endpoint: string; readonly state: BreakerState }
  | { readonly kind: 'budget-available'; readonly budget: string }
  | { readonly kind: 'in-flight'; readonly to: string; readonly endpoint: string | null }
  /** Messages a consumer group has not consumed yet (per partition where the broker has them). */
  | { readonly kind: 'lag'; readonly group: string; readonly partition: string }
  | { readonly kind: 'outbox'; readonly owner: string };
