/**
 * The page in a real browser (Debian's Chromium, driven by playwright-core), against real HTTP processes
 * registered in a temporary embedded registry. Fails under CI=true when Chromium is missing.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { embeddedRegistry, type Registry } from '@meshkit/discovery';
import { type Browser, chromium, type Page } from 'playwright-core';
import { buildUi } from './build-ui.ts';
import type { DashboardSnapshot } from './index.ts';
import { type Dashboard, startDashboard } from './serve/dashboard.ts';
import { Gateway, type Process, startMetricsProcess, startUserService } from './test-support/mini-mesh.ts';

const chromiumPath = process.env.MESHKIT_CHROMIUM ?? '/usr/bin/chromium';
const artefacts = join(import.meta.dirname, '..', '..', '..', '.test-results');

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

/** Resolves with the first snapshot from `dashboard` that satisfies `test`. */
function snapshotWhere(
  dashboard: Dashboard,
  test: (s: DashboardSnapshot) => boolean,
): Promise<DashboardSnapshot> {
  if (test(dashboard.collector.latest)) return Promise.resolve(dashboard.collector.latest);
  return new Promise((resolve) => {
    const off = dashboard.collector.onSnapshot((s) => {
      if (test(s)) {
        off();
        resolve(s);
      }
    });
  });
}

const allScraped = (s: DashboardSnapshot): boolean =>
  s.services.length > 0 &&
  s.services.every((svc) => svc.instances.every((i) => i.scraped || i.id.startsWith('dashboard')));

describe('dashboard page in Chromium', () => {
  let dir: string;
  let uiDir: string;
  let browser: Browser | undefined;

  before(async () => {
    if (!existsSync(chromiumPath)) {
      if (process.env.CI) assert.fail(`Chromium is missing at ${chromiumPath} (apt-get install chromium)`);
      return;
    }
    dir = await mkdtemp(join(tmpdir(), 'dashboard-browser-'));
    uiDir = await buildUi(join(dir, 'ui'));
    await mkdir(artefacts, { recursive: true });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });
  after(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function page(t: { after: (fn: () => Promise<void>) => void }, url: string): Promise<Page> {
    const p = await browser!.newPage({ viewport: { width: 1500, height: 1100 } });
    t.after(() => p.close());
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    p.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    t.after(async () => assert.deepEqual(errors, [], 'no error in the page'));
    await p.goto(url);
    return p;
  }

  it('shows the map, an open breaker from a failing instance, the canary split and messaging', async (t) => {
    if (browser === undefined) return t.skip('Chromium is not installed');
    const registry: Registry = embeddedRegistry({ path: join(dir, 'mesh.db') });
    const routesPath = join(dir, 'routes.yaml');
    await writeFile(routesPath, canaryRoutes);
    const processes: Process[] = [
      await startUserService(registry, 'users-v1-a', 'v1', false),
      await startUserService(registry, 'users-v1-b', 'v1', false),
      await startUserService(registry, 'users-v2', 'v2', true),
    ];
    const gatewayProcess = await startMetricsProcess(registry, 'gateway-1', 'gateway');
    const notifier = await startMetricsProcess(registry, 'notifier-1', 'notifier');
    processes.push(gatewayProcess, notifier);
    const gateway = new Gateway(gatewayProcess, registry);
    const dashboard = await startDashboard({
      registry,
      services: ['gateway', 'notifier'],
      routesPath,
      intervalMs: 250,
      uiDir,
    });
    t.after(async () => {
      await dashboard.close();
      await Promise.all(processes.map((p) => p.close()));
      await registry.close();
    });
    // A baseline scrape of every process before traffic, so all of it is counted.
    await snapshotWhere(dashboard, (s) => allScraped(s) && s.services.some((x) => x.name === 'user-service'));

    await gateway.drive(200, (i) => i % 10 === 9); // 90 % v1, 10 % v2 (which answers 503)
    notifier.metrics.published('user-events', 50);
    notifier.metrics.consumed('user-events', 'notifier', 47);
    notifier.metrics.deadLettered('user-events', 'notifier', 3);
    notifier.metrics.lag('notifier', '0', 12);

    const p = await page(t, dashboard.url);
    for (const name of ['gateway', 'user-service', 'notifier']) {
      await p.locator(`svg.map [data-service="${name}"]`).waitFor();
    }
    await p.locator('[data-edge="gateway->user-service"]').waitFor();
    // Five 503s in a row open users-v2's breaker; the page shows it open, the healthy ones closed.
    await p.locator('tr[data-endpoint="users-v2"][data-breaker="open"]').waitFor();
    assert.equal(await p.locator('tr[data-endpoint="users-v1-a"]').getAttribute('data-breaker'), 'closed');
    assert.match(
      (await p.locator('svg.map [data-service="user-service"]').getAttribute('class')) ?? '',
      /\bbad\b/,
    );
    // Configured 90/10 and the observed split of first tries.
    await p.locator('[data-route="user-service"] [data-observed="v1:90,v2:10"]').waitFor();
    const configured = (await p.locator('[data-route="user-service"] .configured').textContent()) ?? '';
    assert.match(configured, /v1 90%/);
    assert.match(configured, /x-canary=true/);
    await p.locator('tr[data-topic="user-events"][data-group="notifier"]').waitFor();
    const cells = await p.locator('tr[data-topic="user-events"][data-group="notifier"] td').allTextContents();
    assert.equal(cells[4], '12'); // lag
    assert.match(cells[5] ?? '', /^3 \(/); // dead letters
    await p.locator('[data-retries="user-service"]').waitFor();
    await p.locator('#latency .uplot').waitFor();
    await p.screenshot({ path: join(artefacts, 'dashboard.png'), fullPage: true });
  });

  it('renders and keeps updating 50 services and 500 endpoints, with a DOM that does not grow', async (t) => {
    if (browser === undefined) return t.skip('Chromium is not installed');
    const registry: Registry = embeddedRegistry({ path: join(dir, 'big.db') });
    const loadgen = await startMetricsProcess(registry, 'edge-1', 'edge');
    const dashboard = await startDashboard({ registry, services: ['edge'], intervalMs: 250, uiDir });
    t.after(async () => {
      await dashboard.close();
      await loadgen.close();
      await registry.close();
    });
    const services = Array.from({ length: 50 }, (_, s) => `svc-${String(s).padStart(2, '0')}`);
    const feed = (round: number): void => {
      services.forEach((service, s) => {
        for (let e = 0; e < 10; e++) {
          const endpoint = `${service}-ep-${e}`;
          loadgen.metrics.clientTry({
            service,
            subset: e < 8 ? 'v1' : 'v2',
            endpoint,
            seconds: 0.001 * (1 + ((s + e + round) % 40)),
            outcome: (s + e + round) % 17 === 0 ? 'error' : 'success',
          });
          loadgen.metrics.breaker(service, endpoint, 'closed');
        }
      });
    };
    feed(0);
    await snapshotWhere(dashboard, (s) => s.services.reduce((n, x) => n + x.endpoints.length, 0) === 500);

    const p = await page(t, dashboard.url);
    await p.waitForFunction("document.querySelectorAll('svg.map [data-service]').length === 51");
    await p.waitForFunction("document.querySelectorAll('tr[data-endpoint]').length === 500");
    const elementsBefore = await p.evaluate("document.getElementsByTagName('*').length");

    // Updates keep coming: one endpoint's breaker opens, and the page shows it.
    feed(1);
    loadgen.metrics.breaker('svc-17', 'svc-17-ep-3', 'open');
    const updates = Number(await p.locator('body').getAttribute('data-updates'));
    await p.locator('tr[data-endpoint="svc-17-ep-3"][data-breaker="open"]').waitFor();
    await p.waitForFunction(`Number(document.body.dataset.updates) >= ${updates + 3}`);
    const elementsAfter = await p.evaluate("document.getElementsByTagName('*').length");
    assert.equal(elementsAfter, elementsBefore, 'each update replaces what it shows, it does not add');
    assert.equal(await p.locator('tr[data-endpoint]').count(), 500);
    await p.screenshot({ path: join(artefacts, 'dashboard-50-services.png') });
    const stats = dashboard.streamStats();
    assert.equal(stats.clients, 1);
  });
});
