import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { RouteReloadEvent } from '@meshkit/routing';
import { type Gateway, startGateway } from './gateway.ts';
import { type Fleet, fleet, seededRandom, send } from './test-support/fleet.ts';

describe('gateway routing by the VirtualService in deploy/istio', () => {
  let f: Fleet;
  let gateway: Gateway | undefined;
  beforeEach(async () => {
    f = await fleet();
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await f.close();
  });

  it('sends every x-canary: true request to v2, at the rewritten path', async () => {
    const v1 = await f.start('v1');
    const v2 = await f.start('v2');
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    for (let i = 0; i < 100; i++) {
      const res = await send(gateway.url, `/api/users/${i}?fields=name`, { headers: { 'x-canary': 'true' } });
      assert.equal(res.status, 200);
      assert.equal(res.json().version, 'v2');
      assert.equal(res.headers['x-meshkit-subset'], 'v2');
      assert.equal(res.headers['x-meshkit-endpoint'], 'user-service-v2');
      assert.equal(res.headers['x-meshkit-attempts'], '1');
    }
    assert.equal(v1.seen.length, 0);
    assert.equal(v2.seen.length, 100);
    assert.equal(v2.seen[7]!.path, '/users/7?fields=name');
  });

  it('splits requests without the header about 90/10 over 1,000 calls', async () => {
    const v1 = await f.start('v1');
    const v2 = await f.start('v2');
    gateway = await startGateway({
      registry: f.registry,
      routes: f.routes,
      random: seededRandom(7),
      shutdown: { signals: false },
    });
    const bySubset: Record<string, number> = {};
    for (let i = 0; i < 1_000; i++) {
      const res = await send(gateway.url, '/api/users');
      assert.equal(res.status, 200);
      const subset = String(res.headers['x-meshkit-subset']);
      bySubset[subset] = (bySubset[subset] ?? 0) + 1;
    }
    // Binomial(1000, 0.1): mean 100, standard deviation 9.5; the bounds are about four of them.
    assert.ok(v2.seen.length >= 60 && v2.seen.length <= 140, `v2 took ${v2.seen.length} of 1,000`);
    assert.equal(v1.seen.length + v2.seen.length, 1_000);
    assert.equal(bySubset.v2, v2.seen.length);
    assert.equal(v1.seen[0]!.path, '/users');
  });

  it('hides the subset, endpoint and attempts headers when exposeRouting is off', async () => {
    await f.start('v2');
    gateway = await startGateway({
      registry: f.registry,
      routes: f.routes,
      exposeRouting: false,
      shutdown: { signals: false },
    });
    const res = await send(gateway.url, '/api/users/1', { headers: { 'x-canary': 'true' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-meshkit-subset'], undefined);
    assert.equal(res.headers['x-meshkit-endpoint'], undefined);
    assert.equal(res.headers['x-meshkit-attempts'], undefined);
  });

  it('rejects invalid routes at start with an error naming the file and field', async () => {
    const file = join(f.routes, 'virtual-service.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('weight: 90', 'weight: 80'));
    await assert.rejects(
      startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } }),
      (error: Error) => {
        assert.equal((error as { code?: string }).code, 'ERR_INVALID_ARGUMENT');
        assert.match(
          error.message,
          /virtual-service\.yaml #1 spec\.http\[1\]\.route: weights sum to 90, expected 100/,
        );
        return true;
      },
    );
  });

  it('follows an edit of the routes file, and keeps the last good table after a bad one', async () => {
    const v1 = await f.start('v1');
    const v2 = await f.start('v2');
    let onReload: ((e: RouteReloadEvent) => void) | undefined;
    gateway = await startGateway({
      registry: f.registry,
      routes: f.routes,
      onRoutesReload: (e) => onReload?.(e),
      shutdown: { signals: false },
    });
    const file = join(f.routes, 'virtual-service.yaml');
    const original = readFileSync(file, 'utf8');
    const edit = (text: string): Promise<RouteReloadEvent> => {
      const seen = new Promise<RouteReloadEvent>((resolve) => {
        // An editor's write can be read half-done (an empty file): wait for the whole text's outcome.
        onReload = (e) => {
          if (!e.issues.some((i) => i.message.startsWith('no YAML document'))) resolve(e);
        };
      });
      writeFileSync(file, text);
      return seen;
    };

    const bad = await edit(original.replace('subset: v1', 'subset: v3'));
    assert.equal(bad.applied, false);
    const stillSplit = await send(gateway.url, '/api/users', { headers: { 'x-canary': 'true' } });
    assert.equal(stillSplit.json().version, 'v2');

    const good = await edit(original.replace('subset: v1', 'subset: v2'));
    assert.equal(good.applied, true);
    const before = v1.seen.length;
    for (let i = 0; i < 50; i++) assert.equal((await send(gateway.url, '/api/users')).json().version, 'v2');
    assert.equal(v1.seen.length, before);
    assert.ok(v2.seen.length >= 51);
  });
});
