/**
 * What the scenario's calls and events add up to, and the invariants the run must hold: nothing lost,
 * calls succeed through the faults, the canary split matches the routes.
 */
import type { CallRecord } from './load.ts';

/** Figures read from the mesh itself (the gateway's metrics, the event audit, the notifier). */
export interface MeshFigures {
  /** Attempts the gateway made upstream, and logical calls it served (for retry amplification). */
  readonly upstreamAttempts: number | undefined;
  readonly gatewayCalls: number | undefined;
  /** Circuit breaker transitions to open seen in the gateway. */
  readonly breakerTrips: number | undefined;
  /** Distinct `user.*` events the broker carried (seen by an audit consumer group). */
  readonly eventsPublished: number;
  /** Events the API confirmed to the client (201 on create, 2xx on update/delete): a lower bound. */
  readonly eventsConfirmed: number;
  /** Distinct events the notifier recorded. */
  readonly eventsDelivered: number;
  /** Events dead-lettered by the notifier's group. */
  readonly eventsDeadLettered: number;
}

export interface Summary {
  readonly calls: number;
  readonly successRate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly retries: number | undefined;
  readonly retryAmplification: number | undefined;
  readonly breakerTrips: number | undefined;
  /** Share of non-canary calls routed to `v2`, and the bound it must fall within. */
  readonly canaryObserved: number;
  readonly canaryConfigured: number;
  readonly canaryTolerance: number;
  /** Share of `x-canary: true` calls routed to `v2` (must be 1). */
  readonly canaryHeaderToV2: number;
  readonly events: MeshFigures;
  readonly failures: readonly string[];
}

/** Thresholds of the run. */
export interface Expectations {
  /** Minimum share of calls answered below 500. */
  readonly minSuccessRate: number;
  /** The configured share of `v2` for calls without the canary header. */
  readonly canaryWeight: number;
}

export function summarize(records: readonly CallRecord[], mesh: MeshFigures, expect: Expectations): Summary {
  const calls = records.length;
  const succeeded = records.filter((r) => r.status > 0 && r.status < 500).length;
  const latencies = Float64Array.from(records, (r) => r.latencyMs).sort();
  const routed = records.filter((r) => !r.canary && r.subset !== undefined && r.status > 0 && r.status < 500);
  const toV2 = routed.filter((r) => r.subset === 'v2').length;
  const canaryCalls = records.filter((r) => r.canary && r.subset !== undefined);
  const canaryToV2 = canaryCalls.filter((r) => r.subset === 'v2').length;
  const observed = routed.length === 0 ? 0 : toV2 / routed.length;
  const p = expect.canaryWeight;
  // Five standard deviations of a binomial share, and at least one point: wide enough never to fail by
  // chance, narrow enough to catch a wrong weight or a subset that is ignored.
  const tolerance = Math.max(0.01, 5 * Math.sqrt((p * (1 - p)) / Math.max(1, routed.length)));
  const retries =
    mesh.upstreamAttempts !== undefined && mesh.gatewayCalls !== undefined
      ? mesh.upstreamAttempts - mesh.gatewayCalls
      : undefined;
  const amplification =
    mesh.upstreamAttempts !== undefined && mesh.gatewayCalls !== undefined && mesh.gatewayCalls > 0
      ? mesh.upstreamAttempts / mesh.gatewayCalls
      : undefined;
  const summary = {
    calls,
    successRate: calls === 0 ? 0 : succeeded / calls,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    retries,
    retryAmplification: amplification,
    breakerTrips: mesh.breakerTrips,
    canaryObserved: observed,
    canaryConfigured: p,
    canaryTolerance: tolerance,
    canaryHeaderToV2: canaryCalls.length === 0 ? 0 : canaryToV2 / canaryCalls.length,
    events: mesh,
  };
  return { ...summary, failures: check(summary, expect, routed.length, canaryCalls.length) };
}

function check(
  s: Omit<Summary, 'failures'>,
  expect: Expectations,
  routed: number,
  canaryCalls: number,
): string[] {
  const failures: string[] = [];
  if (s.calls === 0) failures.push('no calls were made');
  if (s.successRate < expect.minSuccessRate) {
    failures.push(`success rate ${percent(s.successRate)} is below ${percent(expect.minSuccessRate)}`);
  }
  if (routed === 0) failures.push('no call reported its subset');
  else if (Math.abs(s.canaryObserved - s.canaryConfigured) > s.canaryTolerance) {
    failures.push(
      `canary split ${percent(s.canaryObserved)} is outside ${percent(s.canaryConfigured)} ± ${percent(s.canaryTolerance)}`,
    );
  }
  if (canaryCalls === 0) failures.push('no call asked for the canary');
  else if (s.canaryHeaderToV2 < 1)
    failures.push(`only ${percent(s.canaryHeaderToV2)} of x-canary calls reached v2`);
  const e = s.events;
  if (e.eventsPublished < e.eventsConfirmed) {
    failures.push(`${e.eventsConfirmed - e.eventsPublished} confirmed changes never reached the broker`);
  }
  if (e.eventsDelivered + e.eventsDeadLettered !== e.eventsPublished) {
    failures.push(
      `events published (${e.eventsPublished}) ≠ delivered (${e.eventsDelivered}) + dead-lettered (${e.eventsDeadLettered})`,
    );
  }
  return failures;
}

/** The q-quantile of sorted values (nearest rank). */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

/** The final table, one row per figure. */
export function renderSummary(s: Summary): string {
  const rows: [string, string][] = [
    ['calls', String(s.calls)],
    ['success rate', percent(s.successRate)],
    ['latency p50 / p99', `${s.p50Ms.toFixed(1)} ms / ${s.p99Ms.toFixed(1)} ms`],
    ['retries', s.retries === undefined ? 'n/a' : String(s.retries)],
    [
      'retry amplification',
      s.retryAmplification === undefined ? 'n/a' : `${s.retryAmplification.toFixed(3)}×`,
    ],
    ['breaker trips', s.breakerTrips === undefined ? 'n/a' : String(s.breakerTrips)],
    [
      'canary split (v2)',
      `${percent(s.canaryObserved)} observed, ${percent(s.canaryConfigured)} configured (± ${percent(s.canaryTolerance)})`,
    ],
    ['x-canary: true → v2', percent(s.canaryHeaderToV2)],
    ['events confirmed to clients', String(s.events.eventsConfirmed)],
    ['events published', String(s.events.eventsPublished)],
    ['events delivered', String(s.events.eventsDelivered)],
    ['events dead-lettered', String(s.events.eventsDeadLettered)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  const lines = rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`);
  const verdict =
    s.failures.length === 0 ? '  all invariants held' : s.failures.map((f) => `  FAILED: ${f}`).join('\n');
  return `${lines.join('\n')}\n\n${verdict}`;
}
