import type { RouteConfig } from '@meshkit/routing';
import type {
  BudgetView,
  DashboardSnapshot,
  EdgeView,
  EndpointView,
  InstanceView,
  OutboxView,
  RetryView,
  ServiceView,
  TopicView,
  TrafficView,
} from '../view-model.ts';
import type { BreakerState } from './facts.ts';
import { type Attempts, addTo, type Frame, keySep, type MessageCounts, type Traffic } from './frame.ts';
import type { HistoryPoint, MeshState } from './mesh-state.ts';
import { histogramQuantile } from './quantile.ts';
import { summarizeRoutes } from './routes-view.ts';

/** Traffic summed over frames. */
interface Sum {
  requests: number;
  errors: number;
  readonly buckets: Map<number, number>;
  subset: string | null;
}

function sumTraffic(
  frames: readonly Frame[],
  pick: (frame: Frame) => ReadonlyMap<string, Traffic>,
): Map<string, Sum> {
  const out = new Map<string, Sum>();
  for (const frame of frames) {
    for (const [key, t] of pick(frame)) {
      let sum = out.get(key);
      if (sum === undefined) {
        sum = { requests: 0, errors: 0, buckets: new Map(), subset: null };
        out.set(key, sum);
      }
      sum.requests += t.requests;
      sum.errors += t.errors;
      sum.subset ??= (t as { subset?: string | null }).subset ?? null;
      for (const [le, n] of t.buckets) addTo(sum.buckets, le, n);
    }
  }
  return out;
}

function sumCounts(
  frames: readonly Frame[],
  pick: (frame: Frame) => ReadonlyMap<string, number>,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const frame of frames) for (const [key, n] of pick(frame)) addTo(out, key, n);
  return out;
}

/** The 99th percentile in ms of a bucket set, `null` when there is nothing to estimate from. */
export function p99Ms(buckets: ReadonlyMap<number, number>): number | null {
  const seconds = histogramQuantile(0.99, buckets);
  return Number.isFinite(seconds) ? seconds * 1000 : null;
}

function trafficView(sum: Sum | undefined, spanS: number): TrafficView {
  if (sum === undefined || spanS <= 0) return { rate: 0, errorRatio: null, p99Ms: null };
  return {
    rate: sum.requests / spanS,
    errorRatio: sum.requests > 0 ? sum.errors / sum.requests : null,
    p99Ms: p99Ms(sum.buckets),
  };
}

/** A history point from one frame: each callee's p99 and request rate during it. */
export function historyPoint(frame: Frame): HistoryPoint {
  const p99 = new Map<string, number | null>();
  const rates = new Map<string, number>();
  const spanS = frame.durationMs / 1000;
  for (const [service, t] of frame.callees) {
    p99.set(service, p99Ms(t.buckets));
    rates.set(service, spanS > 0 ? t.requests / spanS : 0);
  }
  return { at: frame.at, p99Ms: p99, rates };
}

/** Options of {@link summarize}. */
export interface SummarizeOptions {
  readonly at: number;
  readonly routes: RouteConfig | undefined;
  readonly routeIssues: readonly string[];
  /** How many services the latency chart follows (the busiest). */
  readonly latencySeries: number;
}

/** Builds the snapshot the page shows from what the collector knows. */
export function summarize(state: MeshState, options: SummarizeOptions): DashboardSnapshot {
  const frames = state.frames;
  const spanS = frames.reduce((s, f) => s + f.durationMs, 0) / 1000;
  const rate = (n: number): number => (spanS > 0 ? n / spanS : 0);

  const edges = sumTraffic(frames, (f) => f.edges);
  const endpoints = sumTraffic(frames, (f) => f.endpoints);
  const servers = sumTraffic(frames, (f) => f.servers);
  const callees = sumTraffic(frames, (f) => f.callees);

  // Gauges from every instance's latest scrape.
  const breakers = new Map<string, { worst: number; notClosed: number }>();
  const budgets = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const inFlightByService = new Map<string, number>();
  const lagByPartition = new Map<string, number>();
  const outbox = new Map<string, number>();
  const instancesByService = new Map<string, InstanceView[]>();
  for (const s of state.instances.values()) {
    const i = s.instance;
    const list = instancesByService.get(i.service) ?? [];
    list.push({
      id: i.id,
      address: i.address,
      port: i.port,
      version: i.version ?? null,
      health: i.health,
      scraped: s.scraped,
      scrapeError: s.scrapeError,
    });
    instancesByService.set(i.service, list);
    for (const { fact, value } of s.gauges) {
      switch (fact.kind) {
        case 'breaker': {
          const key = `${fact.to}${keySep}${fact.endpoint}`;
          const b = breakers.get(key) ?? { worst: 0, notClosed: 0 };
          if (fact.state !== 'closed') b.notClosed++;
          b.worst = Math.max(b.worst, severity(fact.state));
          breakers.set(key, b);
          break;
        }
        case 'budget-available':
          budgets.set(fact.budget, Math.min(budgets.get(fact.budget) ?? Number.POSITIVE_INFINITY, value));
          break;
        case 'in-flight':
          addTo(inFlightByService, fact.to, value);
          if (fact.endpoint !== null) addTo(inFlight, `${fact.to}${keySep}${fact.endpoint}`, value);
          break;
        case 'lag': {
          // Every consumer instance of a group may report the same partition: the highest counts.
          const key = `${fact.group}${keySep}${fact.partition}`;
          lagByPartition.set(key, Math.max(lagByPartition.get(key) ?? 0, value));
          break;
        }
        case 'outbox':
          outbox.set(fact.owner, Math.max(outbox.get(fact.owner) ?? 0, value));
          break;
      }
    }
  }
  const lags = new Map<string, number>();
  for (const [key, n] of lagByPartition) addTo(lags, key.slice(0, key.indexOf(keySep)), n);
  const ejections = sumCounts(frames, (f) => f.ejections);

  // Services: those registered, those called, and those that breakers name.
  const names = new Set<string>(instancesByService.keys());
  for (const key of edges.keys()) for (const name of key.split(keySep)) names.add(name);
  const byService = new Map<string, EndpointView[]>();
  const endpointKeys = new Set<string>([...endpoints.keys(), ...breakers.keys(), ...ejections.keys()]);
  for (const key of endpointKeys) {
    const [service = '', endpoint = ''] = key.split(keySep);
    if (endpoint === '') continue;
    names.add(service);
    const sum = endpoints.get(key);
    const b = breakers.get(key);
    const list = byService.get(service) ?? [];
    list.push({
      endpoint,
      subset: sum?.subset ?? null,
      ...trafficView(sum, spanS),
      health: healthOf(instancesByService.get(service), endpoint),
      breaker: b === undefined ? 'closed' : stateOfSeverity(b.worst),
      breakerOpenIn: b?.notClosed ?? 0,
      ejected: (ejections.get(key) ?? 0) > 0,
      ejections: ejections.get(key) ?? 0,
      inFlight: inFlight.get(key) ?? 0,
    });
    byService.set(service, list);
  }
  const rejected = sumCounts(frames, (f) => f.bulkheadRejected);
  const services: ServiceView[] = [...names].sort().map((name) => ({
    name,
    instances: (instancesByService.get(name) ?? []).sort((a, b) => a.id.localeCompare(b.id)),
    traffic: trafficView(servers.get(name) ?? callees.get(name), spanS),
    endpoints: (byService.get(name) ?? []).sort((a, b) => a.endpoint.localeCompare(b.endpoint)),
    inFlight: inFlightByService.get(name) ?? 0,
    bulkheadRejectedRate: rate(rejected.get(name) ?? 0),
  }));

  const edgeViews: EdgeView[] = [...edges].map(([key, sum]) => {
    const [from = '', to = ''] = key.split(keySep);
    return { from, to, ...trafficView(sum, spanS) };
  });

  const attempts = new Map<string, Attempts>();
  for (const frame of frames) {
    for (const [service, a] of frame.attempts) {
      const total = attempts.get(service) ?? { first: 0, retry: 0, hedge: 0 };
      total.first += a.first;
      total.retry += a.retry;
      total.hedge += a.hedge;
      attempts.set(service, total);
    }
  }
  const retries: RetryView[] = [...attempts.keys()].sort().map((service) => {
    const a = attempts.get(service) ?? { first: 0, retry: 0, hedge: 0 };
    return {
      service,
      firstRate: rate(a.first),
      retryRate: rate(a.retry),
      hedgeRate: rate(a.hedge),
      amplification: a.first > 0 ? (a.first + a.retry + a.hedge) / a.first : null,
    };
  });
  const exhausted = sumCounts(frames, (f) => f.budgetExhausted);
  const budgetViews: BudgetView[] = [...new Set([...budgets.keys(), ...exhausted.keys()])]
    .sort()
    .map((budget) => ({
      budget,
      available: budgets.get(budget) ?? null,
      exhaustedRate: rate(exhausted.get(budget) ?? 0),
    }));

  const topics = topicViews(frames, lags, state.deadLetterTotals, rate);
  const outboxViews: OutboxView[] = [...outbox]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([owner, backlog]) => ({ owner, backlog }));
  const subsets = sumCounts(frames, (f) => f.subsets);

  return {
    at: options.at,
    rateWindowMs: state.rateWindowMs,
    services,
    edges: edgeViews.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to)),
    routes: summarizeRoutes(options.routes, subsets, rate),
    retries,
    budgets: budgetViews,
    topics,
    outbox: outboxViews,
    latency: latencyHistory(state.history, options.latencySeries),
    routeIssues: options.routeIssues,
  };
}

function severity(state: BreakerState): number {
  return state === 'open' ? 2 : state === 'half-open' ? 1 : 0;
}

function stateOfSeverity(n: number): BreakerState {
  return n === 2 ? 'open' : n === 1 ? 'half-open' : 'closed';
}

function healthOf(instances: readonly InstanceView[] | undefined, endpoint: string): EndpointView['health'] {
  const match = instances?.find((i) => i.id === endpoint || `${i.address}:${i.port}` === endpoint);
  return match?.health ?? 'unknown';
}

function topicViews(
  frames: readonly Frame[],
  lags: ReadonlyMap<string, number>,
  deadTotals: ReadonlyMap<string, number>,
  rate: (n: number) => number,
): TopicView[] {
  const published = new Map<string, MessageCounts>();
  const consumed = new Map<string, MessageCounts>();
  for (const frame of frames) {
    mergeCounts(published, frame.published);
    mergeCounts(consumed, frame.consumed);
  }
  const dead = sumCounts(frames, (f) => f.deadLetters);
  const views: TopicView[] = [];
  for (const [topic, p] of published) {
    views.push({
      topic,
      group: null,
      publishRate: rate(p.ok),
      publishErrorRate: rate(p.failed),
      consumeRate: 0,
      consumeErrorRate: 0,
      deadLetterRate: 0,
      deadLetters: 0,
      lag: null,
    });
  }
  const groups = new Set([...consumed.keys(), ...deadTotals.keys()]);
  const shownLag = new Set<string>();
  for (const key of groups) {
    const [topic = '', group = ''] = key.split(keySep);
    const c = consumed.get(key) ?? { ok: 0, failed: 0 };
    shownLag.add(group);
    views.push({
      topic,
      group,
      publishRate: 0,
      publishErrorRate: 0,
      consumeRate: rate(c.ok),
      consumeErrorRate: rate(c.failed),
      deadLetterRate: rate(dead.get(key) ?? 0),
      deadLetters: deadTotals.get(key) ?? 0,
      lag: lags.get(group) ?? null,
    });
  }
  // Lag is reported per group and partition, without the topic: a group with lag and no traffic yet.
  for (const [group, lag] of lags) {
    if (shownLag.has(group)) continue;
    views.push({
      topic: '',
      group,
      publishRate: 0,
      publishErrorRate: 0,
      consumeRate: 0,
      consumeErrorRate: 0,
      deadLetterRate: 0,
      deadLetters: 0,
      lag,
    });
  }
  return views.sort((a, b) => a.topic.localeCompare(b.topic) || (a.group ?? '').localeCompare(b.group ?? ''));
}

function mergeCounts(into: Map<string, MessageCounts>, from: ReadonlyMap<string, MessageCounts>): void {
  for (const [key, c] of from) {
    const total = into.get(key) ?? { ok: 0, failed: 0 };
    total.ok += c.ok;
    total.failed += c.failed;
    into.set(key, total);
  }
}

function latencyHistory(history: readonly HistoryPoint[], count: number): DashboardSnapshot['latency'] {
  // The busiest services over the history, so lines do not come and go with every frame.
  const totals = new Map<string, number>();
  for (const point of history) for (const [service, r] of point.rates) addTo(totals, service, r);
  const busiest = [...totals]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, count)
    .map(([service]) => service)
    .sort();
  return {
    times: history.map((p) => p.at / 1000),
    series: busiest.map((service) => ({ service, p99Ms: history.map((p) => p.p99Ms.get(service) ?? null) })),
  };
}
