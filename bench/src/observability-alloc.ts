/**
 * Where observing allocates in the HTTP client: a fixed driver, not a benchmark. `httpClient` against
 * the `http` scenario's server child, with no subscriber (`off`), `metrics()`, and `metrics()` plus
 * `tracing()` (every call sampled, batched to an exporter that drops the spans), in alternating
 * slices; per request: bytes allocated (V8's sampling heap profiler, garbage included), scavenges and
 * CPU time; with `--sites`, the allocation sites by bytes per request.
 *
 *   node --conditions=@meshkit/source bench/src/observability-alloc.ts [--concurrency=64]
 *     [--requests=20000] [--rounds=3] [--sites] [--only=off|metrics|metrics+tracing] [--no-sample]
 */
import { Session } from 'node:inspector/promises';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { argv } from 'node:process';
import { staticRegistry } from '@meshkit/discovery';
import { httpClient } from '@meshkit/http';
import { metrics, tracing } from '@meshkit/observability';
import { AlwaysOnSampler, type SpanExporter } from '@opentelemetry/sdk-trace';
import { startServer } from './http-server.ts';

const flag = (name: string, fallback: number): number => {
  const found = argv.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : Number(found.slice(name.length + 3));
};
const concurrency = flag('concurrency', 64);
const requests = flag('requests', 20_000);
const rounds = flag('rounds', 3);
const showSites = argv.includes('--sites');
/** Without sampling, CPU and GC figures are not skewed by the profiler (bytes then read 0). */
const sample = !argv.includes('--no-sample');

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

let scavenges = 0;
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMs += entry.duration;
    const detail = (entry as { detail?: { kind?: number } }).detail;
    if (detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) {
      scavenges++;
    }
  }
}).observe({ entryTypes: ['gc'] });

async function drive(call: () => Promise<unknown>, total: number): Promise<void> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total) {
      started++;
      await call();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const server = await startServer();
const registry = staticRegistry({
  instances: [{ id: 'bench-1', service: 'bench', address: '127.0.0.1', port: server.port }],
});
const client = httpClient({
  service: 'bench',
  registry,
  policies: { deadlineMs: 5_000, attemptTimeoutMs: 2_000 },
});
const discard: SpanExporter = { export: (_s, done) => done({ code: 0 }), shutdown: async () => {} };
const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
let failures = 0;
/** A failed call (the breaker opens when the loaded machine stalls the server) is counted, not thrown. */
const call = () =>
  client.get('/users/42').catch(() => {
    failures++;
  });
/** Each case subscribes its observers around its slice, as the `observability` benchmark does. */
const cases = (
  [
    ['off', () => async () => {}],
    [
      'metrics',
      () => {
        const m = metrics();
        return async () => m.close();
      },
    ],
    [
      'metrics+tracing',
      () => {
        const m = metrics();
        const t = tracing({ exporter: discard, sampler: new AlwaysOnSampler() });
        return async () => {
          m.close();
          await t.close();
        };
      },
    ],
  ] as [string, () => () => Promise<void>][]
).filter(([name]) => only === undefined || name === only);

const session = new Session();
session.connect();
const totals = new Map<
  string,
  { bytes: number; scavenges: number; cpuUs: number; gcMs: number; n: number }
>();
const sites = new Map<string, Map<string, number>>();
for (const [, start] of cases) {
  const stop = start();
  await drive(call, requests); // warm-up
  await stop();
}
for (let r = 0; r < rounds; r++) {
  for (const [name, start] of cases) {
    const stop = start();
    await new Promise((resolve) => setImmediate(resolve));
    if (sample) {
      await session.post('HeapProfiler.startSampling', {
        samplingInterval: 256,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    }
    const s0 = scavenges;
    const g0 = gcMs;
    const cpu0 = process.cpuUsage();
    await drive(call, requests);
    const cpu = process.cpuUsage(cpu0);
    await stop();
    const gc = gcMs - g0;
    const scavenged = scavenges - s0;
    await new Promise((resolve) => setImmediate(resolve)); // let the GC observer report
    const head = sample
      ? ((await session.post('HeapProfiler.stopSampling')).profile.head as ProfileNode)
      : undefined;
    await new Promise((resolve) => setImmediate(resolve));
    let bytes = 0;
    const bySite = sites.get(name) ?? new Map<string, number>();
    sites.set(name, bySite);
    const walk = (node: ProfileNode, parent: string): void => {
      const f = node.callFrame;
      const file = f.url.replace(/^.*\/(node_modules|packages)\//, '');
      const site = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
      if (node.selfSize > 0) {
        bytes += node.selfSize;
        const key = `${site}  <-  ${parent}`;
        bySite.set(key, (bySite.get(key) ?? 0) + node.selfSize);
      }
      for (const child of node.children) walk(child, site);
    };
    if (head !== undefined) walk(head, '');
    const t = totals.get(name) ?? { bytes: 0, scavenges: 0, cpuUs: 0, gcMs: 0, n: 0 };
    t.bytes += bytes;
    t.gcMs += gc;
    t.scavenges += scavenged;
    t.cpuUs += cpu.user + cpu.system;
    t.n += requests;
    totals.set(name, t);
  }
}
console.log(`${concurrency} in flight, ${rounds} x ${requests} requests per client`);
for (const [name, t] of totals) {
  console.log(
    `${name.padEnd(14)} ${(t.bytes / t.n).toFixed(0).padStart(6)} B/req  ` +
      `${((t.scavenges / t.n) * 1000).toFixed(2).padStart(6)} scavenges/1k req  ` +
      `${(t.cpuUs / t.n).toFixed(1).padStart(6)} us CPU/req  ` +
      `${((t.gcMs * 1000) / t.n).toFixed(2).padStart(6)} us GC/req`,
  );
}
if (failures > 0) console.log(`${failures} calls failed`);
if (showSites) {
  for (const [name, bySite] of sites) {
    const n = totals.get(name)!.n;
    console.log(`\n${name}: allocation sites, bytes per request`);
    const top = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 40);
    for (const [site, bytes] of top) console.log(`${(bytes / n).toFixed(1).padStart(8)}  ${site}`);
  }
}
session.disconnect();
await client.close();
await registry.close();
server.stop();
