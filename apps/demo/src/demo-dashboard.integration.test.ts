/**
 * The dashboard during the demo: the real system (every app its own process, the embedded registry and
 * broker) runs a shortened scenario while Debian's Chromium, driven by playwright-core, keeps the
 * dashboard's page open and reads it every 250 ms. The page re-renders once per scrape (2 s) and the
 * gateway's breakers stay open 10 s, so a reading every 250 ms sees every state the page showed: the open
 * breaker is asserted on the page itself, and checked against the gateway's own
 * `meshkit_circuit_breaker_transitions_total`. Fails under CI=true when Chromium is missing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseExposition } from '@meshkit/dashboard';
import { type Browser, chromium } from 'playwright-core';
import { type DemoSystemUrls, runDemo } from './demo.ts';

const chromiumPath = process.env.MESHKIT_CHROMIUM ?? '/usr/bin/chromium';
const root = join(import.meta.dirname, '..', '..', '..');
const artefacts = join(root, '.test-results');
const durationMs = 25_000;
const pollMs = 250;

/** What one reading of the page showed. */
interface PageReading {
  readonly at: number;
  /** Services drawn on the map. */
  readonly services: string[];
  readonly edges: string[];
  /** user-service's endpoints whose breaker the page shows open, with their subset. */
  readonly openBreakers: { endpoint: string; subset: string }[];
  /** The routes panel for user-service: its configured rules' text and the observed split (`v1:90,v2:10`). */
  readonly configured: string;
  readonly observed: string;
}

/** The gateway's breaker transitions to open toward user-service, by endpoint, from its `/metrics`. */
async function gatewayTrips(gatewayUrl: string): Promise<Map<string, number>> {
  const response = await fetch(new URL('/metrics', gatewayUrl), { signal: AbortSignal.timeout(2_000) });
  const trips = new Map<string, number>();
  for (const s of parseExposition(await response.text()).samples) {
    if (s.name !== 'meshkit_circuit_breaker_transitions_total') continue;
    if (s.labels.service !== 'user-service' || s.labels.to !== 'open' || s.value <= 0) continue;
    const endpoint = s.labels.endpoint ?? '';
    trips.set(endpoint, (trips.get(endpoint) ?? 0) + s.value);
  }
  return trips;
}

/** What the watch saw, in order. */
interface Watched {
  readonly readings: PageReading[];
  /** Trips the gateway reported at the last reading. */
  trips: Map<string, number>;
  /** When the gateway's metrics first reported a trip, and when the page first showed an open breaker. */
  firstTripAt: number | undefined;
  firstOpenShownAt: number | undefined;
  readonly pageErrors: string[];
}

/** Opens the dashboard and reads it (and the gateway's trips) every {@link pollMs} until `untilMs`. */
async function watch(browser: Browser, urls: DemoSystemUrls, untilMs: number): Promise<Watched> {
  assert.ok(urls.dashboard !== undefined, 'the demo started its dashboard');
  const watched: Watched = {
    readings: [],
    trips: new Map(),
    firstTripAt: undefined,
    firstOpenShownAt: undefined,
    pageErrors: [],
  };
  const page = await browser.newPage({ viewport: { width: 1500, height: 1300 } });
  page.on('pageerror', (e) => watched.pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') watched.pageErrors.push(m.text());
  });
  try {
    await page.goto(urls.dashboard);
    while (Date.now() < untilMs) {
      const reading = (await page.evaluate(`(() => {
        const card = document.querySelector('[data-service-card="user-service"]');
        const route = document.querySelector('[data-route="user-service"]');
        return {
          at: Date.now(),
          services: [...document.querySelectorAll('svg.map [data-service]')].map((e) => e.dataset.service),
          edges: [...document.querySelectorAll('svg.map [data-edge]')].map((e) => e.dataset.edge),
          openBreakers: card === null ? [] : [...card.querySelectorAll('tr[data-breaker="open"]')].map((r) => ({
            endpoint: r.dataset.endpoint,
            subset: r.querySelectorAll('td')[1]?.textContent ?? '',
          })),
          configured: route?.querySelector('.configured')?.textContent ?? '',
          observed: route?.querySelector('.observed')?.dataset.observed ?? '',
        };
      })()`)) as PageReading;
      watched.readings.push(reading);
      try {
        watched.trips = await gatewayTrips(urls.gateway);
        if (watched.trips.size > 0) watched.firstTripAt ??= Date.now();
      } catch {
        // the gateway is busy; the next reading asks again
      }
      if (reading.openBreakers.length > 0 && watched.firstOpenShownAt === undefined) {
        watched.firstOpenShownAt = reading.at;
        await page.screenshot({ path: join(artefacts, 'demo-dashboard.png'), fullPage: true });
      }
      await sleep(pollMs);
    }
    if (watched.firstOpenShownAt === undefined) {
      await page.screenshot({ path: join(artefacts, 'demo-dashboard.png'), fullPage: true });
    }
  } finally {
    await page.close();
  }
  return watched;
}

/** `v1:90,v2:10` as a map of subset to percent; `v1:0,v2:0` (no routed traffic in the window) is empty. */
function split(observed: string): Map<string, number> {
  return new Map(
    observed
      .split(',')
      .filter((part) => part.includes(':'))
      .map((part) => {
        const [subset = '', percent = ''] = part.split(':');
        return [subset, Number(percent)] as const;
      })
      .filter(([, percent]) => percent > 0),
  );
}

describe('the dashboard during the demo', () => {
  let browser: Browser | undefined;

  before(async () => {
    if (!existsSync(chromiumPath)) {
      if (process.env.CI) assert.fail(`Chromium is missing at ${chromiumPath} (apt-get install chromium)`);
      return;
    }
    // The dashboard process serves its built page, as `npm start` builds it first.
    await promisify(execFile)(process.execPath, [
      '--conditions=@meshkit/source',
      join(root, 'apps', 'dashboard', 'src', 'build-ui.ts'),
    ]);
    await mkdir(artefacts, { recursive: true });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });
  after(async () => {
    await browser?.close();
  });

  it('shows the services, the breaker the kill opens, and the canary split', {
    timeout: 240_000,
  }, async (t) => {
    if (browser === undefined) return t.skip('Chromium is not installed');
    const running = browser;
    let log = '';
    let watching: Promise<Watched> | undefined;
    const summary = await runDemo({
      durationMs,
      workers: 4,
      env: {},
      out: { write: (text: string) => (log += text) },
      onSystem: (urls) => {
        // The scenario starts as this returns; the watch lasts as long as it does.
        watching = watch(running, urls, Date.now() + durationMs);
      },
    });
    process.stdout.write(log);
    assert.ok(watching !== undefined, 'onSystem was called');
    const watched = await watching;
    const { readings } = watched;
    assert.deepEqual(summary.failures, [], 'the demo held its invariants with the page open');
    assert.match(log, /user-service-v1-a killed/);
    assert.deepEqual(watched.pageErrors, [], 'no error in the page');

    // The map: the three services of the system, and the gateway calling user-service.
    assert.ok(
      readings.some((r) => ['gateway', 'user-service', 'notifier'].every((s) => r.services.includes(s))),
      `the map never showed gateway, user-service and notifier together: ${JSON.stringify(readings.at(-1))}`,
    );
    assert.ok(readings.some((r) => r.edges.includes('gateway->user-service')));

    // The kill: the gateway's metrics record a breaker opening, and the page showed that breaker open.
    const shownOpen = new Map<string, string>();
    for (const r of readings) for (const b of r.openBreakers) shownOpen.set(b.endpoint, b.subset);
    assert.ok(watched.trips.size > 0, 'the gateway recorded no breaker transition to open');
    assert.ok(
      shownOpen.size > 0,
      `the page never showed an open breaker (gateway trips: ${JSON.stringify([...watched.trips])})`,
    );
    for (const [endpoint, subset] of shownOpen) {
      assert.ok(
        watched.trips.has(endpoint),
        `the page showed ${endpoint} open; the gateway never tripped it`,
      );
      assert.equal(subset, 'v1', `the breaker shown open (${endpoint}) is a v1 instance's`);
    }
    // The killed instance's endpoint id is the HTTP server's default, `service-address-port`, from the URL
    // the demo printed when it started it.
    const killed = /user-service-v1-a +pid \d+ +http:\/\/([\d.]+):(\d+)/.exec(log);
    assert.ok(killed !== null, 'the demo printed the URL of user-service-v1-a');
    const killedEndpoint = `user-service-${killed[1]}-${killed[2]}`;
    assert.ok(
      shownOpen.has(killedEndpoint),
      `the page showed ${[...shownOpen.keys()]} open, not ${killedEndpoint}`,
    );
    assert.ok((summary.breakerTrips ?? 0) >= 1);

    // The canary split: configured 90/10 (and the header rule), and an observed split of first tries.
    const configured = readings.findLast((r) => r.configured !== '')?.configured ?? '';
    assert.match(configured, /v1 90%/);
    assert.match(configured, /v2 10%/);
    assert.match(configured, /x-canary=true/);
    const firstObserved = readings.find((r) => split(r.observed).size > 0);
    assert.ok(firstObserved !== undefined, 'the page never showed an observed split');
    const observed = split(firstObserved.observed);
    assert.ok(
      (observed.get('v1') ?? 0) > (observed.get('v2') ?? 0),
      `v1 takes most first tries before the canary phase: ${firstObserved.observed}`,
    );

    const start = readings[0]?.at ?? 0;
    const seconds = (at: number | undefined) =>
      at === undefined ? '–' : `${((at - start) / 1000).toFixed(1)} s`;
    process.stdout.write(
      `page read ${readings.length} times; gateway breaker trips ${JSON.stringify([...watched.trips])}; ` +
        `first trip in the gateway's metrics at ${seconds(watched.firstTripAt)}, open on the page at ` +
        `${seconds(watched.firstOpenShownAt)}; observed split first ${firstObserved.observed}, last ` +
        `${readings.findLast((r) => split(r.observed).size > 0)?.observed}; screenshot in ${join(artefacts, 'demo-dashboard.png')}\n`,
    );
  });
});
