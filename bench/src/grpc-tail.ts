/**
 * Where the `grpc` benchmark's tail latency comes from: a fixed driver, not a benchmark. Against the same
 * meshkit server child as `grpc.ts`, it runs the chosen clients in interleaved slices (the benchmark's
 * order) and reports per client: calls, p50/p99, the p99 of the calls that overlapped no garbage
 * collection pause of this process, scavenges and mark-compacts per 10,000 calls, the longest pause, the
 * event loop's delay (p99, max) and CPU µs per call.
 *
 *   node --conditions=@meshkit/source bench/src/grpc-tail.ts [--concurrency=16] [--squares=3]
 *     [--slice-ms=300] [--only=grpc-js,meshkit]
 */
import { monitorEventLoopDelay, PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { argv } from 'node:process';
import { getHeapSpaceStatistics } from 'node:v8';
import { type Case, clientCases, roundOrder, startServer } from './grpc.ts';

const flag = (name: string, fallback: string): string => {
  const found = argv.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : found.slice(name.length + 3);
};
const concurrency = Number(flag('concurrency', '16'));
const squares = Number(flag('squares', '3'));
const sliceMs = Number(flag('slice-ms', '300'));
const only = flag('only', 'grpc-js,meshkit-transport,meshkit').split(',');
/** `--gc`: a full collection before every slice (needs --expose-gc), so no case pays for another's garbage. */
const gcBetween = argv.includes('--gc');
/** `--slices`: also print each measured slice (case, calls, CPU µs per call, p50, the loop's longest delay). */
const perSlice = argv.includes('--slices');
const collect = (globalThis as { gc?: () => void }).gc;
if (gcBetween && collect === undefined) throw new Error('--gc needs node --expose-gc');

interface Pause {
  readonly start: number;
  readonly end: number;
  readonly major: boolean;
  readonly kind: number;
}
const pauses: Pause[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as { detail?: { kind?: number } }).detail?.kind;
    pauses.push({
      start: e.startTime,
      end: e.startTime + e.duration,
      major: kind !== perfConstants.NODE_PERFORMANCE_GC_MINOR,
      kind: kind ?? 0,
    });
  }
}).observe({ entryTypes: ['gc'] });

interface Stats {
  starts: number[];
  ends: number[];
  windows: [number, number][];
  cpuUs: number;
  delayP99: number[];
  delayMax: number;
  promoted: number;
}

async function slice(c: Case, stats: Stats | undefined): Promise<void> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const old0 = oldSpaceUsed();
  const callsBefore = stats?.starts.length ?? 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + sliceMs;
  const worker = async (): Promise<void> => {
    let now = performance.now();
    while (now < end) {
      const start = now;
      await c.call();
      now = performance.now();
      stats?.starts.push(start);
      stats?.ends.push(now);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  histogram.disable();
  if (stats === undefined) return;
  const cpu = process.cpuUsage(cpu0);
  stats.promoted += oldSpaceUsed() - old0;
  stats.cpuUs += cpu.user + cpu.system;
  if (perSlice) {
    const calls = stats.starts.length - callsBefore;
    const lat = Float64Array.from(
      stats.ends.slice(callsBefore).map((e, i) => e - stats.starts[callsBefore + i]!),
    ).sort();
    console.log(
      `slice ${c.name.padEnd(18)} calls ${String(calls).padStart(5)} cpu ${((cpu.user + cpu.system) / calls).toFixed(0).padStart(4)} us/call ` +
        `p50 ${pct(lat, 50).toFixed(2).padStart(7)} loop max ${(histogram.max / 1e6).toFixed(0).padStart(4)} ms`,
    );
  }
  stats.windows.push([t0, performance.now()]);
  stats.delayP99.push(histogram.percentile(99) / 1e6);
  stats.delayMax = Math.max(stats.delayMax, histogram.max / 1e6);
}

/** Bytes in the old generation: what survived two scavenges (promoted) and was not yet collected. */
function oldSpaceUsed(): number {
  let used = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (space.space_name === 'old_space' || space.space_name === 'large_object_space')
      used += space.space_used_size;
  }
  return used;
}

const pct = (sorted: Float64Array, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

const server = await startServer('meshkit');
const cases = (await clientCases(server.port)).filter((c) => only.includes(c.name));
const stats = new Map<string, Stats>(
  cases.map((c) => [
    c.name,
    { starts: [], ends: [], windows: [], cpuUs: 0, delayP99: [], delayMax: 0, promoted: 0 },
  ]),
);
try {
  const warmup = 2;
  for (let r = 0; r < warmup + squares * cases.length; r++) {
    for (const c of roundOrder(cases, r)) {
      if (gcBetween) collect!();
      await new Promise((resolve) => setImmediate(resolve));
      await slice(c, r < warmup ? undefined : stats.get(c.name));
    }
  }
} finally {
  for (const c of cases) await c.close();
  server.stop();
}
console.log(
  `grpc tail: ${concurrency} in flight, ${squares} squares of ${sliceMs} ms slices, Node ${process.version}`,
);
console.log(
  [
    'client',
    'calls',
    'p50',
    'p99',
    'p99 noGC',
    'GC-hit%>p99',
    'scav/10k',
    'major/10k',
    'maxGC',
    'gcMs/s',
    'loop p99',
    'loop max',
    'cpu us',
  ].join('\t'),
);
for (const c of cases) {
  const s = stats.get(c.name)!;
  const n = s.starts.length;
  const lat = new Float64Array(n);
  const clean: number[] = [];
  // Pauses are few and sorted by start: a linear scan per call over those in its slice is enough.
  const inWindows = pauses.filter((p) => s.windows.some(([a, b]) => p.end >= a && p.start <= b));
  let overlapsAboveP99 = 0;
  const hit = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    lat[i] = s.ends[i]! - s.starts[i]!;
    const overlapped = inWindows.some((p) => p.start < s.ends[i]! && p.end > s.starts[i]!);
    hit[i] = overlapped ? 1 : 0;
    if (!overlapped) clean.push(lat[i]!);
  }
  const sorted = Float64Array.from(lat).sort();
  const p99 = pct(sorted, 99);
  let above = 0;
  for (let i = 0; i < n; i++) {
    if (lat[i]! >= p99) {
      above++;
      overlapsAboveP99 += hit[i]!;
    }
  }
  const windowMs = s.windows.reduce((t, [a, b]) => t + b - a, 0);
  const minor = inWindows.filter((p) => !p.major);
  const major = inWindows.filter((p) => p.major);
  const gcMs = inWindows.reduce((t, p) => t + p.end - p.start, 0);
  const maxGc = inWindows.reduce((m, p) => Math.max(m, p.end - p.start), 0);
  const delays = Float64Array.from(s.delayP99).sort();
  console.log(
    [
      c.name.padEnd(18),
      n,
      pct(sorted, 50).toFixed(2),
      p99.toFixed(2),
      pct(Float64Array.from(clean).sort(), 99).toFixed(2),
      ((100 * overlapsAboveP99) / Math.max(1, above)).toFixed(0),
      ((minor.length / n) * 1e4).toFixed(1),
      ((major.length / n) * 1e4).toFixed(2),
      maxGc.toFixed(2),
      ((gcMs / windowMs) * 1000).toFixed(1),
      pct(delays, 50).toFixed(2),
      s.delayMax.toFixed(1),
      [
        perfConstants.NODE_PERFORMANCE_GC_MAJOR,
        perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL,
        perfConstants.NODE_PERFORMANCE_GC_WEAKCB,
      ]
        .map(
          (k) =>
            `${inWindows.filter((p) => p.kind === k).length}/${inWindows
              .filter((p) => p.kind === k)
              .reduce((m, p) => Math.max(m, p.end - p.start), 0)
              .toFixed(0)}ms`,
        )
        .join(' '),
      (s.cpuUs / n).toFixed(1),
      `promoted ${(s.promoted / n).toFixed(0)} B/call`,
    ].join('\t'),
  );
}
