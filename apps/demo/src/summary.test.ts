import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CallRecord } from './load.ts';
import { type MeshFigures, quantile, renderSummary, summarize } from './summary.ts';

function call(overrides: Partial<CallRecord>): CallRecord {
  return {
    op: 'get',
    status: 200,
    latencyMs: 10,
    subset: 'v1',
    attempts: 1,
    canary: false,
    phase: 'steady',
    ...overrides,
  };
}

const balanced: MeshFigures = {
  upstreamAttempts: 110,
  gatewayCalls: 100,
  breakerTrips: 1,
  eventsPublished: 40,
  eventsConfirmed: 38,
  eventsDelivered: 39,
  eventsDeadLettered: 1,
};

function records(v1: number, v2: number, canary: number): CallRecord[] {
  return [
    ...Array.from({ length: v1 }, (_, i) => call({ latencyMs: i })),
    ...Array.from({ length: v2 }, () => call({ subset: 'v2' })),
    ...Array.from({ length: canary }, () => call({ subset: 'v2', canary: true })),
  ];
}

describe('summarize', () => {
  it('holds when the split, the success rate and the event counts add up', () => {
    const s = summarize(records(900, 100, 50), balanced, { minSuccessRate: 0.99, canaryWeight: 0.1 });
    assert.deepEqual(s.failures, []);
    assert.equal(s.calls, 1050);
    assert.equal(s.retries, 10);
    assert.equal(s.retryAmplification, 1.1);
    assert.equal(s.canaryHeaderToV2, 1);
    assert.match(renderSummary(s), /all invariants held/);
  });

  it('fails when an event is lost between the broker and the notifier', () => {
    const lost = { ...balanced, eventsDelivered: 38 };
    const s = summarize(records(900, 100, 50), lost, { minSuccessRate: 0.99, canaryWeight: 0.1 });
    assert.equal(s.failures.length, 1);
    assert.match(s.failures[0] ?? '', /published \(40\) ≠ delivered \(38\) \+ dead-lettered \(1\)/);
  });

  it('fails when a confirmed change never reached the broker', () => {
    const s = summarize(
      records(900, 100, 50),
      { ...balanced, eventsConfirmed: 41 },
      { minSuccessRate: 0.9, canaryWeight: 0.1 },
    );
    assert.match(s.failures.join('\n'), /1 confirmed changes never reached the broker/);
  });

  it('fails when the split is far from the configured weight or the canary header is ignored', () => {
    const skewed = [...records(500, 500, 0), call({ canary: true, subset: 'v1' })];
    const s = summarize(skewed, balanced, { minSuccessRate: 0.9, canaryWeight: 0.1 });
    assert.match(s.failures.join('\n'), /canary split 50\.0% is outside 10\.0%/);
    assert.match(s.failures.join('\n'), /0\.0% of x-canary calls reached v2/);
  });

  it('counts 5xx and calls without an answer as failures', () => {
    const calls = [...records(90, 10, 5), call({ status: 503 }), call({ status: 0, subset: undefined })];
    const s = summarize(calls, balanced, { minSuccessRate: 0.99, canaryWeight: 0.1 });
    assert.equal(s.successRate, 105 / 107);
    assert.match(s.failures.join('\n'), /success rate 98\.1% is below 99\.0%/);
  });
});

describe('quantile', () => {
  it('takes the nearest rank', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(quantile(sorted, 0.5), 50);
    assert.equal(quantile(sorted, 0.99), 99);
    assert.equal(quantile(new Float64Array(0), 0.5), 0);
  });
});
