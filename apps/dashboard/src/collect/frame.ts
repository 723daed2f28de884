import type { CounterFact } from './facts.ts';

/** Requests, errors and latency-bucket counts added during one frame. */
export interface Traffic {
  requests: number;
  errors: number;
  /** Cumulative bucket counts added, by upper bound in seconds. */
  readonly buckets: Map<number, number>;
  /** The subset of an endpoint's tries. */
  subset: string | null;
}

/** First tries, retries and hedges toward one service. */
export interface Attempts {
  first: number;
  retry: number;
  hedge: number;
}

/** Successful and failed messages. */
export interface MessageCounts {
  ok: number;
  failed: number;
}

/** The separator of composite map keys (it cannot appear in a label value that names a service). */
export const keySep = '\u0000';

/**
 * What every scraped instance's counters added between two ticks of the collector, summed by what the
 * dashboard shows. Built from counter increases only; gauges are read from the latest scrape instead.
 */
export class Frame {
  /** `from␀to` → client traffic. */
  readonly edges = new Map<string, Traffic>();
  /** `service␀endpoint` → client traffic (with its subset). */
  readonly endpoints = new Map<string, Traffic>();
  /** callee service → client traffic from every caller. */
  readonly callees = new Map<string, Traffic>();
  /** service → traffic its servers answered. */
  readonly servers = new Map<string, Traffic>();
  /** `service␀subset` → first tries. */
  readonly subsets = new Map<string, number>();
  readonly attempts = new Map<string, Attempts>();
  /** budget → retries it refused. */
  readonly budgetExhausted = new Map<string, number>();
  /** service → tries its callers' bulkheads refused. */
  readonly bulkheadRejected = new Map<string, number>();
  /** `service␀endpoint` → ejections. */
  readonly ejections = new Map<string, number>();
  readonly published = new Map<string, MessageCounts>();
  /** `topic␀group` → deliveries. */
  readonly consumed = new Map<string, MessageCounts>();
  /** `topic␀group` → dead letters. */
  readonly deadLetters = new Map<string, number>();
  /** Unix ms when the frame closed (set by {@link Frame.close}). */
  at = 0;
  /** How long it covers, in ms. */
  durationMs = 0;

  /** Marks the frame closed at `at`, covering the `durationMs` before. */
  close(at: number, durationMs: number): void {
    this.at = at;
    this.durationMs = durationMs;
  }

  /** Adds one fact's increase, scraped from an instance of service `source`. */
  add(source: string, fact: CounterFact, increase: number): void {
    switch (fact.kind) {
      case 'client-tries': {
        const errors = fact.error ? increase : 0;
        countRequests(traffic(this.edges, `${source}${keySep}${fact.to}`), increase, errors);
        countRequests(traffic(this.callees, fact.to), increase, errors);
        if (fact.endpoint !== null) {
          const ep = traffic(this.endpoints, `${fact.to}${keySep}${fact.endpoint}`);
          ep.subset ??= fact.subset;
          countRequests(ep, increase, errors);
        }
        const attempts = this.attempts.get(fact.to) ?? { first: 0, retry: 0, hedge: 0 };
        attempts[fact.attempt] += increase;
        this.attempts.set(fact.to, attempts);
        if (fact.attempt === 'first' && fact.subset !== null) {
          addTo(this.subsets, `${fact.to}${keySep}${fact.subset}`, increase);
        }
        return;
      }
      case 'client-bucket':
        addTo(traffic(this.edges, `${source}${keySep}${fact.to}`).buckets, fact.le, increase);
        addTo(traffic(this.callees, fact.to).buckets, fact.le, increase);
        if (fact.endpoint !== null) {
          addTo(traffic(this.endpoints, `${fact.to}${keySep}${fact.endpoint}`).buckets, fact.le, increase);
        }
        return;
      case 'server-requests':
        countRequests(traffic(this.servers, fact.service ?? source), increase, fact.error ? increase : 0);
        return;
      case 'server-bucket':
        addTo(traffic(this.servers, fact.service ?? source).buckets, fact.le, increase);
        return;
      case 'budget-exhausted':
        addTo(this.budgetExhausted, fact.budget, increase);
        return;
      case 'bulkhead-rejected':
        addTo(this.bulkheadRejected, fact.to, increase);
        return;
      case 'ejections':
        addTo(this.ejections, `${fact.to}${keySep}${fact.endpoint}`, increase);
        return;
      case 'published':
        countMessages(this.published, fact.topic, fact.error, increase);
        return;
      case 'consumed':
        countMessages(this.consumed, `${fact.topic}${keySep}${fact.group}`, fact.error, increase);
        return;
      case 'dead-letters':
        addTo(this.deadLetters, `${fact.topic}${keySep}${fact.group}`, increase);
        return;
    }
  }
}

function traffic(map: Map<string, Traffic>, key: string): Traffic {
  let t = map.get(key);
  if (t === undefined) {
    t = { requests: 0, errors: 0, buckets: new Map(), subset: null };
    map.set(key, t);
  }
  return t;
}

function countRequests(t: Traffic, requests: number, errors: number): void {
  t.requests += requests;
  t.errors += errors;
}

function countMessages(map: Map<string, MessageCounts>, key: string, failed: boolean, n: number): void {
  const counts = map.get(key) ?? { ok: 0, failed: 0 };
  if (failed) counts.failed += n;
  else counts.ok += n;
  map.set(key, counts);
}

/** Adds `n` to `map[key]`. */
export function addTo<K>(map: Map<K, number>, key: K, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}
