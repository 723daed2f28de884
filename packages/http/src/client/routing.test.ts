import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isMeshError } from '@meshkit/core';
import {
  compileRoutes,
  loadRoutesOrThrow,
  parseRoutes,
  type RouteReloadEvent,
  type RouteSource,
  type RouteTable,
  routing,
  watchRoutes,
} from '@meshkit/routing';
import { httpServer, type MeshServer } from '../server/node-server.ts';
import { httpClient } from './client.ts';
import { httpRouteAdapter } from './route-adapter.ts';

const seed = join(import.meta.dirname, '../../../routing/src/fixtures');

/** A deterministic generator of numbers in [0, 1) (mulberry32), so the split is reproducible. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One instance of user-service, labelled with its version, answering with `respond`. */
async function instance(
  version: string,
  respond: (hit: number) => Promise<{ status: number }> | { status: number },
  id = version,
) {
  let hits = 0;
  const server: MeshServer = httpServer({
    service: 'user-service',
    shutdown: { signals: false, exit: false },
    handler: async () => {
      const { status } = await respond(++hits);
      return { status, body: { version, id } };
    },
  });
  const { port } = await server.listen({ host: '127.0.0.1' });
  return {
    endpoint: { id, address: `127.0.0.1:${port}`, labels: { version } },
    hits: () => hits,
    server,
  };
}

function client(
  routes: RouteTable | RouteSource,
  endpoints: { id: string; address: string; labels: Record<string, string> }[],
) {
  const route = routing({
    routes,
    host: 'user-service',
    adapter: httpRouteAdapter,
    random: seededRandom(42),
  });
  return httpClient({ service: 'user-service', endpoints, route });
}

describe('httpClient with the seed VirtualService', () => {
  let v1: Awaited<ReturnType<typeof instance>>;
  let v2: Awaited<ReturnType<typeof instance>>;
  before(async () => {
    v1 = await instance('v1', () => ({ status: 200 }));
    v2 = await instance('v2', () => ({ status: 200 }));
  });
  after(async () => {
    await v1.server.shutdown();
    await v2.server.shutdown();
  });

  it('sends every x-canary: true call to v2, and splits the rest 90/10 between v1 and v2', async () => {
    const { config } = await loadRoutesOrThrow(join(seed, 'seed-canary.yaml'));
    const users = client(compileRoutes(config), [v1.endpoint, v2.endpoint]);
    try {
      for (let i = 0; i < 200; i++) {
        assert.deepEqual(await users.get('/users/42', { headers: { 'x-canary': 'true' } }), {
          version: 'v2',
          id: 'v2',
        });
      }
      assert.equal(v1.hits(), 0);
      assert.equal(v2.hits(), 200);
      const counts: Record<string, number> = { v1: 0, v2: 0 };
      for (let i = 0; i < 2_000; i++) {
        const { version } = (await users.get('/users/42')) as { version: string };
        counts[version]!++;
      }
      assert.equal(counts.v1! + counts.v2!, 2_000);
      assert.equal(v1.hits(), counts.v1);
      // n p = 200, sd = sqrt(2000 * 0.1 * 0.9) = 13.4; 3.29 sd (99.9%) is 44.
      assert.ok(counts.v2! >= 156 && counts.v2! <= 244, `v2 took ${counts.v2} of 2,000`);
    } finally {
      await users.close();
    }
  });
});

describe('httpClient with the seed retry document', () => {
  it("retries a 500 three times (Istio's attempts count retries), where the client alone tries three times in all", async () => {
    const failing = await instance('v1', () => ({ status: 500 }));
    const { config } = await loadRoutesOrThrow(join(seed, 'seed-retries.yaml'));
    const routed = client(compileRoutes(config), [failing.endpoint]);
    const plain = httpClient({ service: 'user-service', endpoints: [failing.endpoint] });
    try {
      await assert.rejects(routed.get('/users/1'), (e) => isMeshError(e) && e.details.status === 500);
      assert.equal(failing.hits(), 4);
      await assert.rejects(plain.get('/users/1'), (e) => isMeshError(e) && e.details.status === 500);
      assert.equal(failing.hits(), 4 + 3);
    } finally {
      await routed.close();
      await plain.close();
      await failing.server.shutdown();
    }
  });

  it('does not retry what retryOn does not name (503 is not in the seed list)', async () => {
    const unavailable = await instance('v1', () => ({ status: 503 }));
    const { config } = await loadRoutesOrThrow(join(seed, 'seed-retries.yaml'));
    const routed = client(compileRoutes(config), [unavailable.endpoint]);
    try {
      await assert.rejects(routed.get('/users/1'), (e) => isMeshError(e) && e.details.status === 503);
      assert.equal(unavailable.hits(), 1);
    } finally {
      await routed.close();
      await unavailable.server.shutdown();
    }
  });
});

describe('route timeouts over real HTTP', () => {
  const vs = (retries: string, timeout: string) =>
    compileRoutes(
      parseRoutes(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: user-service }
spec:
  hosts: [user-service]
  http:
  - route: [{ destination: { host: user-service } }]
    ${retries}
    timeout: ${timeout}
`).config,
    );

  it('perTryTimeout ends a hung try and the next try answers', async () => {
    let release: (() => void) | undefined;
    const hang = await instance('v1', (hit) =>
      hit === 1 ? new Promise((resolve) => (release = () => resolve({ status: 200 }))) : { status: 200 },
    );
    const routed = client(vs('retries: { attempts: 2, perTryTimeout: 200ms, retryOn: reset,5xx }', '30s'), [
      hang.endpoint,
    ]);
    try {
      assert.deepEqual(await routed.get('/users/1'), { version: 'v1', id: 'v1' });
      assert.equal(hang.hits(), 2);
    } finally {
      release?.();
      await routed.close();
      await hang.server.shutdown();
    }
  });

  it('the overall timeout caps the whole call, retries included', async () => {
    const releases: (() => void)[] = [];
    const hang = await instance(
      'v1',
      () => new Promise((resolve) => releases.push(() => resolve({ status: 200 }))),
    );
    const routed = client(vs('retries: { attempts: 5, perTryTimeout: 150ms, retryOn: 5xx }', '400ms'), [
      hang.endpoint,
    ]);
    try {
      await assert.rejects(
        routed.get('/users/1'),
        (e) => isMeshError(e) && e.code === 'ERR_DEADLINE_EXCEEDED',
      );
      assert.ok(hang.hits() >= 1 && hang.hits() < 6, `${hang.hits()} tries`);
    } finally {
      for (const r of releases) r();
      await routed.close();
      await hang.server.shutdown();
    }
  });
});

describe('hot reload under load', () => {
  it('swaps 90/10 for all-v2 while calls are in flight: no call fails, later calls all go to v2', async () => {
    const v1 = await instance('v1', () => ({ status: 200 }));
    const v2 = await instance('v2', () => ({ status: 200 }));
    const dir = await mkdtemp(join(tmpdir(), 'meshkit-reload-'));
    const file = join(dir, 'user-service.yaml');
    await copyFile(join(seed, 'seed-canary.yaml'), file);
    // A write can reach the watcher as several events (truncate, then data): wait for the outcome wanted.
    let wanted:
      | { test: (e: RouteReloadEvent) => boolean; resolve: (e: RouteReloadEvent) => void }
      | undefined;
    const until = (test: (e: RouteReloadEvent) => boolean) =>
      new Promise<RouteReloadEvent>((resolve) => {
        wanted = { test, resolve };
      });
    const routes = await watchRoutes(file, {
      debounceMs: 5,
      onReload: (e) => {
        if (wanted?.test(e)) wanted.resolve(e);
      },
    });
    const users = client(routes, [v1.endpoint, v2.endpoint]);
    let stop = false;
    let workers: Promise<void>[] = [];
    try {
      const failures: unknown[] = [];
      let done = 0;
      const worker = async () => {
        while (!stop) {
          await users.get('/users/42').catch((e) => failures.push(e));
          done++;
        }
      };
      workers = Array.from({ length: 8 }, worker);
      while (done < 300) await new Promise((r) => setImmediate(r));
      // A bad edit first: rejected, the 90/10 table keeps serving.
      const rejected = until((e) => e.issues.some((i) => i.message === 'weights sum to 90, expected 100'));
      const original = await readFile(file, 'utf8');
      await writeFile(file, original.replace('weight: 90', 'weight: 80'));
      assert.equal((await rejected).applied, false);
      const applied = until((e) => e.applied);
      await writeFile(file, original.replace('subset: v1', 'subset: v2'));
      assert.equal((await applied).applied, true);
      const v1Before = v1.hits();
      const doneAtSwap = done;
      while (done < doneAtSwap + 300) await new Promise((r) => setImmediate(r));
      stop = true;
      await Promise.all(workers);
      assert.deepEqual(failures, []);
      assert.ok(v1Before > 0);
      // Calls already routed to v1 before the swap may still land (at most one per worker).
      assert.ok(v1.hits() - v1Before <= 8, `${v1.hits() - v1Before} calls reached v1 after the swap`);
      assert.equal(v1.hits() + v2.hits(), done);
    } finally {
      stop = true;
      await Promise.all(workers);
      routes.close();
      await users.close();
      await v1.server.shutdown();
      await v2.server.shutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('DestinationRule load balancing over real HTTP', () => {
  it('round-robins subset v1 and hashes subset v2 by the x-user header', async () => {
    const ok = () => ({ status: 200 });
    const servers = [
      await instance('v1', ok, 'v1-a'),
      await instance('v1', ok, 'v1-b'),
      await instance('v2', ok, 'v2-a'),
      await instance('v2', ok, 'v2-b'),
      await instance('v2', ok, 'v2-c'),
    ];
    const { config } = await loadRoutesOrThrow(join(seed, 'seed-canary.yaml'));
    const rules = parseRoutes(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: user-service }
spec:
  host: user-service
  subsets:
  - name: v1
    labels: { version: v1 }
    trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }
  - name: v2
    labels: { version: v2 }
    trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }
`);
    const routes = compileRoutes({ ...config, destinationRules: rules.config.destinationRules });
    const users = client(
      routes,
      servers.map((s) => s.endpoint),
    );
    try {
      const byUser = new Map<string, Set<string>>();
      for (let i = 0; i < 120; i++) {
        const user = `user-${i % 12}`;
        const { id } = (await users.get('/users/42', {
          headers: { 'x-canary': 'true', 'x-user': user },
        })) as {
          id: string;
        };
        if (!byUser.has(user)) byUser.set(user, new Set());
        byUser.get(user)!.add(id);
      }
      assert.ok(
        [...byUser.values()].every((ids) => ids.size === 1),
        'each user stays on one v2 instance',
      );
      assert.ok(new Set([...byUser.values()].flatMap((ids) => [...ids])).size > 1, 'users spread over v2');
      assert.equal(servers[0]!.hits() + servers[1]!.hits(), 0);
      // Calls without x-canary: 90% to v1, where round robin alternates between its two instances.
      for (let i = 0; i < 200; i++) await users.get('/users/42');
      assert.ok(
        Math.abs(servers[0]!.hits() - servers[1]!.hits()) <= 1,
        `${servers[0]!.hits()} vs ${servers[1]!.hits()}`,
      );
    } finally {
      await users.close();
      for (const s of servers) await s.server.shutdown();
    }
  });
});

describe('DestinationRule connection pool over real HTTP', () => {
  it('http2MaxRequests caps the calls in flight to the subset; the one over fails ERR_BULKHEAD_FULL', async () => {
    const releases: (() => void)[] = [];
    const slow = await instance(
      'v1',
      () => new Promise((resolve) => releases.push(() => resolve({ status: 200 }))),
    );
    const routes = parseRoutes(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: user-service }
spec:
  hosts: [user-service]
  http:
  - route: [{ destination: { host: user-service, subset: v1 } }]
    retries: { attempts: 0 }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: user-service }
spec:
  host: user-service
  subsets:
  - name: v1
    labels: { version: v1 }
    trafficPolicy: { connectionPool: { http: { http2MaxRequests: 2 } } }
`);
    assert.equal(routes.ok, true);
    const users = client(compileRoutes(routes.config), [slow.endpoint]);
    try {
      const first = users.get('/users/1');
      const second = users.get('/users/2');
      while (slow.hits() < 2) await new Promise((r) => setImmediate(r));
      await assert.rejects(users.get('/users/3'), (e) => isMeshError(e) && e.code === 'ERR_BULKHEAD_FULL');
      for (const release of releases) release();
      assert.deepEqual(await Promise.all([first, second]), [
        { version: 'v1', id: 'v1' },
        { version: 'v1', id: 'v1' },
      ]);
      assert.equal(slow.hits(), 2);
      // Slots are back: the next call goes through.
      const third = users.get('/users/4');
      while (slow.hits() < 3) await new Promise((r) => setImmediate(r));
      for (const release of releases.splice(0)) release();
      assert.deepEqual(await third, { version: 'v1', id: 'v1' });
    } finally {
      for (const release of releases) release();
      await users.close();
      await slow.server.shutdown();
    }
  });
});

describe('a route to another host', () => {
  it('fails with ERR_NO_ENDPOINT (other-host) instead of reaching this service', async () => {
    const v1 = await instance('v1', () => ({ status: 200 }));
    const routes = parseRoutes(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: user-service }
spec:
  hosts: [user-service]
  http:
  - match: [{ uri: { prefix: /legacy } }]
    route: [{ destination: { host: legacy-users } }]
  - route: [{ destination: { host: user-service.default.svc.cluster.local } }]
`);
    const users = client(compileRoutes(routes.config), [v1.endpoint]);
    try {
      await assert.rejects(
        users.get('/legacy/1'),
        (e) =>
          isMeshError(e) &&
          e.code === 'ERR_NO_ENDPOINT' &&
          e.details.reason === 'other-host' &&
          e.message ===
            'route "spec.http[0]" of user-service sends to host "legacy-users", but this client serves "user-service"',
      );
      assert.deepEqual(await users.get('/users/1'), { version: 'v1', id: 'v1' });
      assert.equal(v1.hits(), 1);
    } finally {
      await users.close();
      await v1.server.shutdown();
    }
  });
});
