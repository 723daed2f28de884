/**
 * The measuring half of the allocation drivers (http-alloc.ts, observability-alloc.ts): runs each case
 * in alternating slices of concurrent calls and prints, per request, bytes allocated (V8's sampling heap
 * profiler, garbage included), scavenges, CPU and GC time; with `--sites`, the allocation sites by bytes
 * per request. Flags: `--concurrency=64 --requests=20000 --rounds=3 --sites --only=<case> --no-sample`.
 * `--no-sample` leaves the profiler off, for CPU and GC figures it does not skew; `--only` runs one case,
 * so V8 sizes the young generation for it alone.
 */
import { Session } from 'node:inspector/promises';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { argv } from 'node:process';

/** One case: what it calls, and optionally what it sets up around each of its slices. */
export interface AllocationCase {
  readonly name: string;
  readonly call: () => Promise<unknown>;
  /** Called before each slice (warm-up included); returns what undoes it after the slice. */
  readonly around?: () => () => Promise<void>;
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const flag = (name: string, fallback: number): number => {
  const found = argv.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : Number(found.slice(name.length + 3));
};

const nothing = async (): Promise<void> => {};
const turn = (): Promise<unknown> => new Promise((resolve) => setImmediate(resolve));

/** Measures `cases` as the flags say and prints the report. */
export async function profileAllocations(all: readonly AllocationCase[]): Promise<void> {
  const concurrency = flag('concurrency', 64);
  const requests = flag('requests', 20_000);
  const rounds = flag('rounds', 3);
  const showSites = argv.includes('--sites');
  /** Without sampling, CPU and GC figures are not skewed by the profiler (bytes then read 0). */
  const sample = !argv.includes('--no-sample');
  const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const cases = all.filter((c) => only === undefined || c.name === only);

  let scavenges = 0;
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMs += entry.duration;
      const detail = (entry as { detail?: { kind?: number } }).detail;
      if (detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });

  const drive = async (call: () => Promise<unknown>): Promise<void> => {
    let started = 0;
    const worker = async (): Promise<void> => {
      while (started < requests) {
        started++;
        await call();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };

  const session = new Session();
  session.connect();
  const totals = new Map<
    string,
    { bytes: number; scavenges: number; cpuUs: number; gcMs: number; n: number }
  >();
  const sites = new Map<string, Map<string, number>>();
  for (const { call, around } of cases) {
    const undo = around?.() ?? nothing;
    await drive(call); // warm-up
    await undo();
  }
  for (let r = 0; r < rounds; r++) {
    for (const { name, call, around } of cases) {
      const undo = around?.() ?? nothing;
      await turn();
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
      await drive(call);
      const cpu = process.cpuUsage(cpu0);
      await undo();
      const gc = gcMs - g0;
      const scavenged = scavenges - s0;
      await turn(); // let the GC observer report
      const head = sample
        ? ((await session.post('HeapProfiler.stopSampling')).profile.head as ProfileNode)
        : undefined;
      await turn();
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
  session.disconnect();
  observer.disconnect();
  console.log(`${concurrency} in flight, ${rounds} x ${requests} requests per case`);
  for (const [name, t] of totals) {
    console.log(
      `${name.padEnd(14)} ${(t.bytes / t.n).toFixed(0).padStart(6)} B/req  ` +
        `${((t.scavenges / t.n) * 1000).toFixed(2).padStart(6)} scavenges/1k req  ` +
        `${(t.cpuUs / t.n).toFixed(1).padStart(6)} us CPU/req  ` +
        `${((t.gcMs * 1000) / t.n).toFixed(2).padStart(6)} us GC/req`,
    );
  }
  if (showSites) {
    for (const [name, bySite] of sites) {
      const n = totals.get(name)!.n;
      console.log(`\n${name}: allocation sites, bytes per request`);
      const top = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 40);
      for (const [site, bytes] of top) console.log(`${(bytes / n).toFixed(1).padStart(8)}  ${site}`);
    }
  }
}
