/**
 * The seed's Istio VirtualService steering real HTTP calls, with no sidecar:
 *
 *   node --conditions=@meshkit/source examples/canary-routing.ts
 *
 * Two user-service instances start on 127.0.0.1, labelled version=v1 and version=v2. A client routed by
 * the seed's canary VirtualService (copied into a temp folder and watched) sends `x-canary: true` calls
 * to v2 and splits the rest 90/10. Then the file is edited twice: a bad edit (weights summing to 80) is
 * rejected and the old table keeps serving; a good one moves everything to v2, and the next calls follow
 * it. The example prints where the calls went in each phase and exits non-zero if routing did not behave
 * as described.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpClient, httpRouteAdapter, httpServer } from '@meshkit/http';
import { formatIssue, type RouteReloadEvent, routing, watchRoutes } from '@meshkit/routing';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-routes-'));
const file = join(dir, 'user-service.yaml');
copyFileSync(join(import.meta.dirname, '../packages/routing/src/fixtures/seed-canary.yaml'), file);

async function start(version: string) {
  const server = httpServer({
    service: 'user-service',
    shutdown: { signals: false, exit: false },
    handler: () => ({ body: { version } }),
  });
  const { port } = await server.listen({ host: '127.0.0.1' });
  return { server, endpoint: { id: version, address: `127.0.0.1:${port}`, labels: { version } } };
}

const v1 = await start('v1');
const v2 = await start('v2');
let onReload: ((e: RouteReloadEvent) => void) | undefined;
const routes = await watchRoutes(file, { onReload: (e) => onReload?.(e) });
const users = httpClient({
  service: 'user-service',
  endpoints: [v1.endpoint, v2.endpoint],
  route: routing({ routes, host: 'user-service', adapter: httpRouteAdapter }),
});

async function phase(title: string, calls: number, headers: Record<string, string> = {}) {
  const counts: Record<string, number> = { v1: 0, v2: 0 };
  for (let i = 0; i < calls; i++) {
    const { version } = (await users.get('/users/42', { headers })) as { version: string };
    counts[version] = (counts[version] ?? 0) + 1;
  }
  console.log(
    `${title.padEnd(34)} v1 ${String(counts.v1).padStart(4)}   v2 ${String(counts.v2).padStart(4)}`,
  );
  return counts;
}

function edit(text: string): Promise<RouteReloadEvent> {
  // A write can be seen half-done (an empty file, rejected): wait for the reading of the whole text.
  const reloaded = new Promise<RouteReloadEvent>((resolve) => {
    onReload = (e) => {
      if (!e.issues.some((i) => i.message.startsWith('no YAML document'))) resolve(e);
    };
  });
  writeFileSync(file, text);
  return reloaded;
}

let ok = true;
const check = (condition: boolean, what: string) => {
  if (!condition) {
    console.error(`unexpected: ${what}`);
    ok = false;
  }
};
try {
  const canary = await phase('x-canary: true', 200, { 'x-canary': 'true' });
  check(canary.v2 === 200, 'a canary call went to v1');
  const split = await phase('no header (90/10)', 2_000);
  check(split.v2! > 100 && split.v2! < 300, `v2 took ${split.v2} of 2,000, expected about 200`);

  const original = readFileSync(file, 'utf8');
  const bad = await edit(original.replace('weight: 90', 'weight: 70'));
  for (const issue of bad.issues.filter((i) => i.severity === 'error'))
    console.log(`rejected: ${formatIssue(issue)}`);
  check(!bad.applied, 'the bad edit was applied');
  const still = await phase('after the rejected edit (90/10)', 1_000);
  check(still.v1! > 800, 'the old table stopped serving');

  const good = await edit(original.replace('subset: v1', 'subset: v2'));
  check(good.applied, 'the good edit was rejected');
  const moved = await phase('after moving v1 traffic to v2', 500);
  check(moved.v1 === 0, 'calls still reach v1');
} finally {
  routes.close();
  await users.close();
  await v1.server.shutdown();
  await v2.server.shutdown();
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = ok ? 0 : 1;
