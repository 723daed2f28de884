import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvalidArgumentError } from '@meshkit/core';
import { staticRegistry } from '@meshkit/discovery';
import { buildUi } from '../build-ui.ts';
import type { DashboardSnapshot } from '../view-model.ts';
import { startDashboard } from './dashboard.ts';

describe('startDashboard', () => {
  let dir: string;
  let uiDir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dashboard-server-'));
    uiDir = await buildUi(join(dir, 'ui'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('serves the bundled page, the snapshot and the stream, and registers as dashboard', async () => {
    const registry = staticRegistry();
    const dashboard = await startDashboard({ registry, uiDir, intervalMs: 60_000 });
    try {
      const page = await fetch(dashboard.url);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      const html = await page.text();
      assert.match(html, /src="app\.js"/);
      assert.doesNotMatch(html, /https?:\/\//, 'nothing is fetched from elsewhere');
      const script = await fetch(new URL('app.js', dashboard.url));
      assert.match(script.headers.get('content-type') ?? '', /javascript/);
      assert.ok((await script.text()).length > 10_000, 'the bundle holds uPlot');
      assert.equal((await fetch(new URL('app.css', dashboard.url))).status, 200);
      assert.equal((await fetch(new URL('nope', dashboard.url))).status, 404);
      assert.equal((await fetch(dashboard.url, { method: 'POST' })).status, 405);
      const snapshot = (await (
        await fetch(new URL('api/snapshot', dashboard.url))
      ).json()) as DashboardSnapshot;
      assert.equal(snapshot.rateWindowMs, 120_000); // two intervals

      const res = await new Promise<IncomingMessage>((resolve) =>
        get(new URL('events', dashboard.url), resolve),
      );
      assert.equal(res.headers['content-type'], 'text/event-stream');
      let text = '';
      for await (const chunk of res) {
        text += chunk.toString();
        if (text.includes('event: snapshot\ndata: {')) break;
      }
      res.destroy();

      const [self] = await registry.lookup('dashboard');
      assert.equal(self?.port, Number(new URL(dashboard.url).port));
      assert.equal(self?.labels.metrics, 'none');
    } finally {
      await dashboard.close();
    }
    assert.deepEqual(await registry.lookup('dashboard'), []);
  });

  it('fails at start when the page was not built, and on bad options', async () => {
    const registry = staticRegistry();
    await assert.rejects(startDashboard({ registry, uiDir: join(dir, 'missing') }), /build:ui/);
    await assert.rejects(startDashboard({ registry, uiDir, port: 70_000 }), InvalidArgumentError);
    await assert.rejects(startDashboard({ registry, uiDir, intervalMs: -1 }), /collector.intervalMs/);
  });
});
