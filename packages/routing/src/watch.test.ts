import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createContext } from '@meshkit/core';
import { RouteConfigError, type RouteReloadEvent, routeDecision, routing, watchRoutes } from './index.ts';
import { get, testAdapter, virtualService } from './test-support.ts';

const routeTo = (subset: string) =>
  virtualService(`  - route: [{ destination: { host: svc, subset: ${subset} } }]`);

describe('watchRoutes', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshkit-routes-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('swaps a valid edit in, keeps the last good table on a bad one and reports its errors', async () => {
    const file = join(dir, 'routes.yaml');
    await writeFile(file, routeTo('v1'));
    // A write can reach the watcher as several events (truncate, then data): wait for the outcome wanted.
    let wanted:
      | { test: (e: RouteReloadEvent) => boolean; resolve: (e: RouteReloadEvent) => void }
      | undefined;
    const until = (test: (e: RouteReloadEvent) => boolean) =>
      new Promise<RouteReloadEvent>((resolve) => {
        wanted = { test, resolve };
      });
    const routes = await watchRoutes(file, {
      debounceMs: 10,
      onReload: (e) => {
        if (wanted?.test(e)) wanted.resolve(e);
      },
    });
    try {
      const layer = routing({ routes, host: 'svc', adapter: testAdapter });
      const subset = () => layer.decide(get('/'), createContext())?.subset;
      assert.equal(subset(), 'v1');

      let reloaded = until((e) => e.applied);
      await writeFile(file, routeTo('v2'));
      await reloaded;
      assert.equal(subset(), 'v2');

      reloaded = until((e) => e.issues.some((i) => i.path === 'spec.hosts'));
      await writeFile(file, routeTo('v3').replace('hosts: [svc]', 'hosts: []'));
      const rejected = await reloaded;
      assert.equal(rejected.applied, false);
      assert.deepEqual(
        rejected.issues.filter((i) => i.severity === 'error').map((i) => [i.path, i.message]),
        [['spec.hosts', 'expected at least one host']],
      );
      assert.equal(subset(), 'v2', 'the last good table keeps serving');

      // An editor's save: write a temporary file, rename it over the watched one.
      reloaded = until((e) => e.applied);
      await writeFile(`${file}.tmp`, routeTo('v4'));
      await rename(`${file}.tmp`, file);
      await reloaded;
      assert.equal(subset(), 'v4');

      // A file caught empty (between a truncate and a write) is rejected, never an empty table.
      reloaded = until((e) => !e.applied);
      await writeFile(file, '');
      assert.deepEqual(
        (await reloaded).issues.map((i) => i.message),
        ['no YAML document (an empty routing file)'],
      );
      assert.equal(subset(), 'v4');
    } finally {
      routes.close();
    }
  });

  it('follows a directory, and a call keeps the table it started with', async () => {
    const sub = await mkdtemp(join(dir, 'd-'));
    await writeFile(join(sub, 'a.yaml'), routeTo('v1'));
    let onApplied: (() => void) | undefined;
    const routes = await watchRoutes(sub, { debounceMs: 10, onReload: (e) => e.applied && onApplied?.() });
    try {
      const seen: (string | undefined)[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const call = routing({ routes, host: 'svc', adapter: testAdapter }).wrap(async (_req, ctx) => {
        await gate;
        seen.push(ctx.get(routeDecision)?.subset);
        return { status: 200, headers: {} };
      });
      const inFlight = call(get('/'), createContext());
      const reloaded = new Promise<void>((r) => {
        onApplied = r;
      });
      await writeFile(join(sub, 'a.yaml'), routeTo('v2'));
      await reloaded;
      release();
      await inFlight;
      await call(get('/'), createContext());
      assert.deepEqual(seen, ['v1', 'v2']);
    } finally {
      routes.close();
    }
  });

  it('follows a Kubernetes ConfigMap volume, whose update swaps the ..data link to a new folder', async () => {
    const volume = await mkdtemp(join(dir, 'configmap-'));
    // The kubelet's layout: a timestamped folder, `..data` linking to it, each key linking through `..data`.
    await mkdir(join(volume, '..2026_01'));
    await writeFile(join(volume, '..2026_01', 'routes.yaml'), routeTo('v1'));
    await symlink('..2026_01', join(volume, '..data'));
    await symlink(join('..data', 'routes.yaml'), join(volume, 'routes.yaml'));
    let onApplied: (() => void) | undefined;
    const routes = await watchRoutes(volume, { debounceMs: 10, onReload: (e) => e.applied && onApplied?.() });
    try {
      const layer = routing({ routes, host: 'svc', adapter: testAdapter });
      assert.equal(layer.decide(get('/'), createContext())?.subset, 'v1');
      const reloaded = new Promise<void>((r) => {
        onApplied = r;
      });
      // The update: a new folder, a temporary link to it, renamed over `..data`.
      await mkdir(join(volume, '..2026_02'));
      await writeFile(join(volume, '..2026_02', 'routes.yaml'), routeTo('v2'));
      await symlink('..2026_02', join(volume, '..data_tmp'));
      await rename(join(volume, '..data_tmp'), join(volume, '..data'));
      await reloaded;
      assert.equal(layer.decide(get('/'), createContext())?.subset, 'v2');
    } finally {
      routes.close();
    }
  });

  it('refuses to start on a configuration with errors', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, routeTo('v1').replace('networking.istio.io/v1', 'v9'));
    await assert.rejects(
      watchRoutes(file),
      (e) => e instanceof RouteConfigError && e.issues[0]?.path === 'apiVersion',
    );
  });

  it('reload() reads now, one read at a time', async () => {
    const file = join(dir, 'manual.yaml');
    await writeFile(file, routeTo('v1'));
    const routes = await watchRoutes(file);
    try {
      await writeFile(file, routeTo('v5'));
      const [a, b] = await Promise.all([routes.reload(), routes.reload()]);
      assert.equal(a, b);
      assert.equal(routes.table.rulesFor('svc')?.rules[0]?.decisions[0]?.subset, 'v5');
    } finally {
      routes.close();
    }
  });
});
