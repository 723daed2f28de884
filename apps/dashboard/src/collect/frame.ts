import { attemptKindOf, isErrorOutcome, labelNames as L, metricNames as M } from './metric-names.ts';
import type { Sample } from './prom-text.ts';

/** Requests, errors and latency-bucket counts added during one frame. */
export interface Traffic {
  requests: number;
  errors: number;
  /** Cumulative bucket counts added, by upper bound in seconds. */
  readonly buckets: Map<number, number>;
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
  readonly endpoints = new Map<string, Traffic & { subset: string | null }>();
  /** callee service → client traffic from every caller. */
  readonly callees = new Map<string, Traffic>();
  /** service → traffic its servers answered. */
  readonly servers = new Map<string, Traffic>();
  /** `service␀subset` → first tries. */
  readonly subsets = new Map<string, number>();
  readonly attempts = new Map<string, Attempts>();
  readonly budgetExhausted = new Map<string, number>();
  readonly bulkheadRejected = new Map<string, number>();
  readonly published = new Map<string, MessageCounts>();
  /** `topic␀subscription` → deliveries. */
  readonly consumed = new Map<string, MessageCounts>();
  /** `topic␀subscription` → dead letters. */
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

  /** Adds one sample's increase, scraped from an instance of `source`. */
  add(source: string, sample: Sample, increase: number): void {
    const labels = sample.labels;
    switch (sample.name) {
      case M.clientRequests: {
        const to = labels[L.service] ?? 'unknown';
        const errors = isErrorOutcome(labels[L.outcome]) ? increase : 0;
        const subset = labels[L.subset] || null;
        countRequests(traffic(this.edges, `${source}${keySep}${to}`), increase, errors);
        countRequests(traffic(this.callees, to), increase, errors);
        const endpoint = labels[L.endpoint];
        if (endpoint) {
          const ep = traffic(this.endpoints, `${to}${keySep}${endpoint}`) as Traffic & {
            subset: string | null;
          };
          ep.subset ??= subset;
          countRequests(ep, increase, errors);
        }
        const kind = attemptKindOf(labels[L.attempt]);
        const attempts = this.attempts.get(to) ?? { first: 0, retry: 0, hedge: 0 };
        attempts[kind] += increase;
        this.attempts.set(to, attempts);
        if (kind === 'first' && subset !== null) addTo(this.subsets, `${to}${keySep}${subset}`, increase);
        return;
      }
      case `${M.clientDuration}_bucket`: {
        const le = bound(labels.le);
        if (le === undefined) return;
        const to = labels[L.service] ?? 'unknown';
        addTo(traffic(this.edges, `${source}${keySep}${to}`).buckets, le, increase);
        addTo(traffic(this.callees, to).buckets, le, increase);
        const endpoint = labels[L.endpoint];
        if (endpoint) addTo(traffic(this.endpoints, `${to}${keySep}${endpoint}`).buckets, le, increase);
        return;
      }
      case M.serverRequests:
        countRequests(
          traffic(this.servers, source),
          increase,
          isErrorOutcome(labels[L.outcome]) ? increase : 0,
        );
        return;
      case `${M.serverDuration}_bucket`: {
        const le = bound(labels.le);
        if (le !== undefined) addTo(traffic(this.servers, source).buckets, le, increase);
        return;
      }
      case M.retryBudgetExhausted:
        addTo(this.budgetExhausted, labels[L.service] ?? 'unknown', increase);
        return;
      case M.bulkheadRejected:
        addTo(this.bulkheadRejected, labels[L.service] ?? 'unknown', increase);
        return;
      case M.messagesPublished:
        countMessages(this.published, labels[L.topic] ?? 'unknown', labels[L.outcome], increase);
        return;
      case M.messagesConsumed:
        countMessages(
          this.consumed,
          `${labels[L.topic] ?? 'unknown'}${keySep}${labels[L.subscription] ?? ''}`,
          labels[L.outcome],
          increase,
        );
        return;
      case M.deadLetters:
        addTo(
          this.deadLetters,
          `${labels[L.topic] ?? 'unknown'}${keySep}${labels[L.subscription] ?? ''}`,
          increase,
        );
        return;
    }
  }
}

/** Whether the collector tracks increases of samples named `name` (the counters {@link Frame.add} reads). */
export function isTrackedCounter(name: string): boolean {
  return trackedCounters.has(name);
}

const trackedCounters = new Set<string>([
  M.clientRequests,
  `${M.clientDuration}_bucket`,
  M.serverRequests,
  `${M.serverDuration}_bucket`,
  M.retryBudgetExhausted,
  M.bulkheadRejected,
  M.messagesPublished,
  M.messagesConsumed,
  M.deadLetters,
]);

function bound(le: string | undefined): number | undefined {
  if (le === undefined) return undefined;
  if (le === '+Inf') return Number.POSITIVE_INFINITY;
  const value = Number(le);
  return Number.isFinite(value) ? value : undefined;
}

function traffic(map: Map<string, Traffic>, key: string): Traffic {
  let t = map.get(key);
  if (t === undefined) {
    t = { requests: 0, errors: 0, buckets: new Map(), subset: null } as Traffic;
    map.set(key, t);
  }
  return t;
}

function countRequests(t: Traffic, requests: number, errors: number): void {
  t.requests += requests;
  t.errors += errors;
}

function countMessages(
  map: Map<string, MessageCounts>,
  key: string,
  outcome: string | undefined,
  n: number,
): void {
  const counts = map.get(key) ?? { ok: 0, failed: 0 };
  if (outcome === undefined || outcome === 'success') counts.ok += n;
  else counts.failed += n;
  map.set(key, counts);
}

/** Adds `n` to `map[key]`. */
export function addTo<K>(map: Map<K, number>, key: K, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}
