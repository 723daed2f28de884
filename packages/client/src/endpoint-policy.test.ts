import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContext, ErrorCode, FakeClock, MeshError } from '@meshkit/core';
import { compileRoutes, parseRoutes, type RouteAdapter, routing } from '@meshkit/routing';
import { clientStack } from './client-stack.ts';
import type { ConnectHints } from './endpoint-policy.ts';
import { outlierOptionsOf } from './endpoint-policy.ts';

/** Requests are paths; `/v2...` goes to subset v2, the rest to v1. */
const adapter: RouteAdapter<string, string> = {
  view: (path) => ({ method: 'GET', path, headers: {} }),
};

const yaml = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: users }
spec:
  host: users
  trafficPolicy:
    loadBalancer: { simple: ROUND_ROBIN }
  subsets:
    - name: v1
      labels: { version: v1 }
    - name: v2
      labels: { version: v2 }
      trafficPolicy:
        loadBalancer: { simple: ROUND_ROBIN }
        outlierDetection:
          consecutive5xxErrors: 2
          interval: 1s
          baseEjectionTime: 5s
          maxEjectionPercent: 50
        connectionPool:
          tcp: { connectTimeout: 250ms }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: users }
spec:
  hosts: [users]
  http:
    - match: [{ uri: { prefix: /v2 } }]
      route: [{ destination: { host: users, subset: v2 } }]
    - route: [{ destination: { host: users, subset: v1 } }]
`;

function routedClient(clock: FakeClock, failing: Set<string>) {
  const { config, ok, issues } = parseRoutes(yaml, 'users.yaml');
  assert.ok(ok, issues.map((i) => i.message).join('\n'));
  const hints = new Map<string, ConnectHints>();
  const calls: string[] = [];
  const pipeline = clientStack<string, string>({
    service: 'users',
    endpoints: ['v1a', 'v1b', 'v2a', 'v2b', 'v2c'].map((id) => ({
      id,
      address: id,
      labels: { version: id.slice(0, 2) },
    })),
    connect: (endpoint, hint) => {
      hints.set(endpoint.id, hint);
      return async (req) => {
        calls.push(endpoint.id);
        if (failing.has(endpoint.id)) {
          throw new MeshError(ErrorCode.HTTP_STATUS, '500', { details: { status: 500 } });
        }
        return `${req} from ${endpoint.id}`;
      };
    },
    route: routing({ routes: compileRoutes(config), host: 'users', adapter }),
    policies: { retry: false, breaker: false },
    clock,
  });
  const ejected = (): string[] =>
    (pipeline.describe().balancer as { endpoints: { id: string; ejected: boolean }[] }).endpoints
      .filter((e) => e.ejected)
      .map((e) => e.id);
  const call = (path: string) => pipeline.service(path, createContext({ clock })).catch(() => 'failed');
  return { pipeline, hints, calls, ejected, call };
}

describe('DestinationRule traffic policy applied per endpoint', () => {
  it("ejects by the subset's outlierDetection (consecutive5xxErrors, baseEjectionTime), others by the client's", async () => {
    const clock = new FakeClock();
    const c = routedClient(clock, new Set(['v1a', 'v2a']));
    try {
      for (let i = 0; i < 4; i++) await c.call('/v1');
      for (let i = 0; i < 6; i++) await c.call('/v2');
      // v2a failed twice in a row: out, by its subset's rule; v1a too, but the client's rule wants 5.
      assert.deepEqual(c.ejected(), ['v2a']);
      c.calls.length = 0;
      for (let i = 0; i < 4; i++) await c.call('/v2');
      assert.ok(!c.calls.includes('v2a'), `v2a ejected, yet called: ${c.calls}`);
      await clock.advance(5_000);
      assert.deepEqual(c.ejected(), [], 'back after baseEjectionTime');
    } finally {
      await c.pipeline.close();
    }
  });

  it('sweeps the subset at its own interval: a healthy interval after an ejection forgives it', async () => {
    const clock = new FakeClock();
    const failing = new Set(['v2a']);
    const c = routedClient(clock, failing);
    const ejections = (): number =>
      (c.pipeline.describe().balancer as { endpoints: { id: string; ejections: number }[] }).endpoints.find(
        (e) => e.id === 'v2a',
      )!.ejections;
    try {
      for (let i = 0; i < 4; i++) await c.call('/v2');
      assert.deepEqual(c.ejected(), ['v2a']);
      await clock.advance(5_000);
      failing.delete('v2a');
      // One healthy 1 s interval of the subset (the client's own interval is 10 s): the count decays.
      await clock.advance(1_000);
      assert.equal(ejections(), 0);
      failing.add('v2a');
      for (let i = 0; i < 6 && c.ejected().length === 0; i++) await c.call('/v2');
      assert.deepEqual(c.ejected(), ['v2a']);
      assert.equal(ejections(), 1, 'a first ejection again, lasting baseEjectionTime');
    } finally {
      await c.pipeline.close();
    }
  });

  it("caps ejections at the subset's maxEjectionPercent, counted within the subset", async () => {
    const clock = new FakeClock();
    const c = routedClient(clock, new Set(['v2a', 'v2c']));
    try {
      for (let i = 0; i < 9; i++) await c.call('/v2');
      // Both failing v2 endpoints crossed the threshold; 50% of 3 allows only one out at a time.
      assert.deepEqual(c.ejected(), ['v2a']);
    } finally {
      await c.pipeline.close();
    }
  });

  it("opens each endpoint's transport with its subset's tcp connectTimeout", async () => {
    const clock = new FakeClock();
    const c = routedClient(clock, new Set());
    try {
      await c.call('/v2');
      assert.deepEqual(c.hints.get('v2a'), { connectTimeoutMs: 250 });
      assert.deepEqual(c.hints.get('v1a'), {});
    } finally {
      await c.pipeline.close();
    }
  });

  it('maps every outlierDetection field onto the balancer’s, one options object per spec', () => {
    const spec = {
      consecutive5xxErrors: 7,
      consecutiveGatewayErrors: 3,
      intervalMs: 2_000,
      baseEjectionTimeMs: 60_000,
      maxEjectionPercent: 20,
    };
    assert.deepEqual(outlierOptionsOf(spec), {
      consecutive5xx: 7,
      consecutiveGatewayFailure: 3,
      intervalMs: 2_000,
      baseEjectionTimeMs: 60_000,
      maxEjectionPercent: 20,
    });
    assert.equal(outlierOptionsOf(spec), outlierOptionsOf(spec));
    assert.deepEqual(outlierOptionsOf({ consecutiveGatewayErrors: 0 }), { consecutiveGatewayFailure: 0 });
  });
});
