import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeClock, InvalidArgumentError } from '@meshkit/core';
import { type Registry, staticRegistry } from '@meshkit/discovery';
import { MeshMetrics, type MetricsServer, serveMetrics } from '../test-support/mesh-metrics.ts';
import { Collector } from './collector.ts';

const canaryRoutes = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: user-service
spec:
  hosts:
    - user-service
  http:
    - match:
        - headers:
            x-canary:
              exact: "true"
      route:
        - destination:
            host: user-service
            subset: v2
    - route:
        - destination:
            host: user-service
            subset: v1
          weight: 90
        - destination:
            host: user-service
            subset: v2
          weight: 10
`;

/** A small mesh: a gateway calling user-service (v1 ×2, v2 ×1), each process with its own metrics. */
class Mesh {
  readonly metrics = new Map<string, MeshMetrics>();
  readonly servers: MetricsServer[] = [];
  registry: Registry = staticRegistry();
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }
  async add(id: string, service: string, version?: string): Promise<MetricsServer> {
    this.metrics.set(id, new MeshMetrics());
    const server = await serveMetrics(() => this.metrics.get(id)!);
    this.servers.push(server);
    await this.registry.register({
      id,
      service,
      address: '127.0.0.1',
      port: server.port,
      ...(version === undefined ? {} : { version }),
    });
    return server;
  }
  m(id: string): MeshMetrics {
    return this.metrics.get(id)!;
  }
  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.close()));
    await this.registry.close();
  }
}

describe('Collector', () => {
  let dir: string;
  let routesPath: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dashboard-collector-'));
    routesPath = join(dir, 'routes.yaml');
    await writeFile(routesPath, canaryRoutes);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function mesh(): Promise<Mesh> {
    const m = new Mesh(dir);
    await m.add('gateway-1', 'gateway');
    await m.add('users-v1-a', 'user-service', 'v1');
    await m.add('users-v1-b', 'user-service', 'v1');
    await m.add('users-v2', 'user-service', 'v2');
    return m;
  }

  it('computes rates, error ratios and p99 per edge and endpoint from two scrapes', async (t) => {
    const m = await mesh();
    t.after(() => m.close());
    const clock = new FakeClock();
    const collector = new Collector({ registry: m.registry, services: ['gateway'], routesPath, clock });
    await collector.tick(); // first scrape: the baseline, counts nothing

    const gw = m.m('gateway-1');
    for (let i = 0; i < 90; i++) {
      gw.clientTry({
        service: 'user-service',
        subset: 'v1',
        endpoint: i % 2 ? 'users-v1-a' : 'users-v1-b',
        seconds: 0.02,
      });
    }
    for (let i = 0; i < 10; i++) {
      gw.clientTry({
        service: 'user-service',
        subset: 'v2',
        endpoint: 'users-v2',
        seconds: 0.2,
        outcome: i < 5 ? 'error' : 'success',
      });
    }
    for (let i = 0; i < 45; i++) m.m('users-v1-a').serverRequest('user-service', 0.01);
    await clock.advance(2_000);
    const snapshot = await collector.tick();

    const edge = snapshot.edges.find((e) => e.from === 'gateway' && e.to === 'user-service');
    assert.ok(edge, 'the gateway → user-service edge');
    assert.equal(edge.rate, 50); // 100 tries in 2 s
    assert.equal(edge.errorRatio, 0.05);
    // 99th of 100: rank 99 among 90 in (0.01, 0.025] and 10 in (0.1, 0.25] → 0.1 + 0.15 * 9/10.
    assert.ok(edge.p99Ms !== null && Math.abs(edge.p99Ms - 235) < 1e-9, String(edge.p99Ms));

    const users = snapshot.services.find((s) => s.name === 'user-service');
    assert.ok(users);
    assert.deepEqual(
      users.instances.map((i) => [i.id, i.version, i.scraped]),
      [
        ['users-v1-a', 'v1', true],
        ['users-v1-b', 'v1', true],
        ['users-v2', 'v2', true],
      ],
    );
    assert.equal(users.traffic.rate, 22.5); // its servers' own count: 45 in 2 s
    const v2 = users.endpoints.find((e) => e.endpoint === 'users-v2');
    assert.equal(v2?.rate, 5);
    assert.equal(v2?.errorRatio, 0.5);
    assert.equal(v2?.subset, 'v2');
    assert.equal(v2?.health, 'passing');

    const route = snapshot.routes.find((r) => r.host === 'user-service');
    assert.deepEqual(
      route?.rules.map((r) => [r.match, r.destinations.map((d) => `${d.subset}:${d.weight}`)]),
      [
        ['header x-canary=true', ['v2:100']],
        ['all requests', ['v1:90', 'v2:10']],
      ],
    );
    assert.deepEqual(
      route?.observed.map((o) => [o.subset, o.percent]),
      [
        ['v1', 90],
        ['v2', 10],
      ],
    );
  });

  it('shows breaker and ejection states, and endpoint health from the registry', async (t) => {
    const m = await mesh();
    t.after(() => m.close());
    const clock = new FakeClock();
    const collector = new Collector({ registry: m.registry, services: ['gateway', 'user-service'], clock });
    await collector.tick();
    const gw = m.m('gateway-1');
    gw.breaker('user-service', 'users-v2', 'open');
    gw.breaker('user-service', 'users-v1-a', 'half-open');
    gw.breaker('user-service', 'users-v1-b', 'closed');
    gw.ejected('user-service', 'users-v2');
    await clock.advance(2_000);
    const snapshot = await collector.tick();
    const endpoints = snapshot.services.find((s) => s.name === 'user-service')?.endpoints ?? [];
    assert.deepEqual(
      endpoints.map((e) => [e.endpoint, e.breaker, e.breakerOpenIn, e.ejected]),
      [
        ['users-v1-a', 'half-open', 1, false],
        ['users-v1-b', 'closed', 0, false],
        ['users-v2', 'open', 1, true],
      ],
    );

    gw.breaker('user-service', 'users-v2', 'closed');
    await clock.advance(2_000);
    const later = await collector.tick();
    const v2 = later.services
      .find((s) => s.name === 'user-service')
      ?.endpoints.find((e) => e.endpoint === 'users-v2');
    assert.equal(v2?.breaker, 'closed');
  });

  it('reads a counter that went down as a restart, and forgets traffic older than the rate window', async (t) => {
    const m = await mesh();
    t.after(() => m.close());
    const clock = new FakeClock();
    const collector = new Collector({
      registry: m.registry,
      services: ['gateway'],
      clock,
      rateWindowMs: 10_000,
    });
    const try1 = { service: 'user-service', subset: 'v1', endpoint: 'users-v1-a', seconds: 0.01 } as const;
    for (let i = 0; i < 30; i++) m.m('gateway-1').clientTry(try1);
    await collector.tick();
    // The gateway restarts: a fresh registry whose counters start below the last scrape's.
    m.metrics.set('gateway-1', new MeshMetrics());
    for (let i = 0; i < 4; i++) m.m('gateway-1').clientTry(try1);
    await clock.advance(2_000);
    const snapshot = await collector.tick();
    assert.equal(snapshot.edges.find((e) => e.to === 'user-service')?.rate, 2); // 4 in 2 s, not -26

    for (let i = 0; i < 5; i++) {
      await clock.advance(2_000);
      await collector.tick();
    }
    const quiet = collector.latest.edges.find((e) => e.to === 'user-service');
    assert.equal(quiet?.rate, 0);
    assert.equal(quiet?.p99Ms, null);
  });

  it('shows a failed scrape on its instance and keeps scraping the others', async (t) => {
    const m = await mesh();
    t.after(() => m.close());
    const broken = await serveMetrics(() => Promise.resolve('this is { not an exposition'));
    const big = await serveMetrics(() => Promise.resolve(`x ${'1'.repeat(2_000_000)}\n`));
    m.servers.push(broken, big);
    await m.registry.register({
      id: 'notifier-1',
      service: 'notifier',
      address: '127.0.0.1',
      port: broken.port,
    });
    await m.registry.register({
      id: 'notifier-2',
      service: 'notifier',
      address: '127.0.0.1',
      port: big.port,
    });
    await m.registry.register({
      id: 'grpc-only',
      service: 'notifier',
      address: '127.0.0.1',
      port: 1,
      protocols: ['grpc'],
    });
    const clock = new FakeClock();
    const collector = new Collector({
      registry: m.registry,
      services: ['gateway', 'notifier'],
      clock,
      maxScrapeBytes: 1_000_000,
    });
    const snapshot = await collector.tick();
    const notifier = snapshot.services.find((s) => s.name === 'notifier');
    const errors = new Map(notifier?.instances.map((i) => [i.id, i.scrapeError]));
    assert.match(errors.get('notifier-1') ?? '', /line 1/);
    assert.match(errors.get('notifier-2') ?? '', /bytes/);
    assert.equal(errors.get('grpc-only'), 'no HTTP metrics endpoint');
    assert.equal(snapshot.services.find((s) => s.name === 'gateway')?.instances[0]?.scraped, true);
  });

  it('computes retry amplification and budget, and messaging throughput, lag and dead letters', async (t) => {
    const m = await mesh();
    t.after(() => m.close());
    const clock = new FakeClock();
    const collector = new Collector({ registry: m.registry, services: ['gateway', 'user-service'], clock });
    await collector.tick();
    const gw = m.m('gateway-1');
    const call = { service: 'user-service', subset: 'v1', endpoint: 'users-v1-a', seconds: 0.01 } as const;
    for (let i = 0; i < 20; i++) gw.clientTry(call);
    for (let i = 0; i < 5; i++) gw.clientTry({ ...call, attempt: 'retry' });
    gw.clientTry({ ...call, attempt: 'hedge' });
    gw.budgetExhausted('user-service', 4);
    const users = m.m('users-v1-a');
    users.published('user-events', 40);
    users.outbox('user-service', 7);
    m.m('users-v2').outbox('user-service', 2);
    const notifier = m.m('users-v1-b'); // any process may consume
    notifier.consumed('user-events', 'notifier', 36);
    notifier.consumed('user-events', 'notifier', 2, 'retry');
    notifier.deadLettered('user-events', 'notifier', 2);
    notifier.lag('notifier', '0', 4);
    notifier.lag('notifier', '1', 3);
    m.m('gateway-1').lag('notifier', '0', 4); // another consumer of the group reports partition 0 too
    await clock.advance(2_000);
    const snapshot = await collector.tick();

    const retry = snapshot.retries.find((r) => r.service === 'user-service');
    assert.deepEqual(retry, {
      service: 'user-service',
      firstRate: 10,
      retryRate: 2.5,
      hedgeRate: 0.5,
      amplification: 1.3,
    });
    assert.deepEqual(snapshot.budgets, [{ budget: 'user-service', available: null, exhaustedRate: 2 }]);
    const published = snapshot.topics.find((x) => x.topic === 'user-events' && x.group === null);
    assert.equal(published?.publishRate, 20);
    const sub = snapshot.topics.find((x) => x.group === 'notifier');
    assert.deepEqual(
      [sub?.consumeRate, sub?.consumeErrorRate, sub?.deadLetterRate, sub?.deadLetters, sub?.lag],
      [18, 1, 1, 2, 7],
    );
    // Relays of one owner read one outbox: the highest report counts, not the sum.
    assert.deepEqual(snapshot.outbox, [{ owner: 'user-service', backlog: 7 }]);
  });

  it('keeps a bounded latency history of the busiest services', async (t) => {
    const m = await mesh();
    t.after(() => m.close());
    const clock = new FakeClock();
    const collector = new Collector({
      registry: m.registry,
      services: ['gateway'],
      clock,
      intervalMs: 1_000,
      historyMs: 5_000,
      latencySeries: 1,
    });
    for (let i = 0; i < 12; i++) {
      m.m('gateway-1').clientTry({ service: 'user-service', endpoint: 'users-v1-a', seconds: 0.04 });
      m.m('gateway-1').clientTry({ service: 'user-service', endpoint: 'users-v1-a', seconds: 0.04 });
      m.m('gateway-1').clientTry({ service: 'notifier', endpoint: 'n-1', seconds: 0.3 });
      await collector.tick();
      await clock.advance(1_000);
    }
    const { latency } = collector.latest;
    assert.equal(latency.times.length, 5);
    assert.deepEqual(
      latency.series.map((s) => s.service),
      ['user-service'],
    );
    // Each frame holds two 40 ms tries: p99 interpolates inside (0.025, 0.05].
    assert.ok(latency.series[0]!.p99Ms.every((v) => v !== null && v > 25 && v <= 50));
  });

  it('runs on its clock with start and stop', async (t) => {
    const m = await mesh();
    t.after(() => m.close());
    const clock = new FakeClock();
    const collector = new Collector({ registry: m.registry, services: ['gateway'], clock, intervalMs: 500 });
    const seen: number[] = [];
    collector.onSnapshot((s) => seen.push(s.at));
    collector.start();
    while (seen.length < 1) await new Promise((r) => setImmediate(r));
    await clock.advance(500);
    while (seen.length < 2) await new Promise((r) => setImmediate(r));
    await collector.stop();
    assert.equal(clock.pendingTimers, 0);
    assert.equal(seen[1]! - seen[0]!, 500);
  });

  it('checks its options at construction', () => {
    const registry = staticRegistry();
    assert.throws(() => new Collector({ registry, intervalMs: 0 }), InvalidArgumentError);
    assert.throws(() => new Collector({ registry, intervalMs: 1_000, rateWindowMs: 500 }), /rateWindowMs/);
    assert.throws(() => new Collector({ registry, services: [''] }), /services\[0\]/);
    assert.throws(() => new Collector({ registry: {} as Registry }), /collector.registry/);
  });
});
