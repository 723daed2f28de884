/**
 * Cost of one `pick()` per picker at 3, 100 and 1,000 endpoints, bytes allocated per pick, and memory per
 * endpoint (the balancer's record plus the picker's tables).
 *
 * Endpoints are the balancer's own records (peak-EWMA load, in-flight counts), taken from a real
 * `balance()`, so `load()` does the work it does in production. Hash pickers get a request key from a
 * rotating set of prepared contexts, so hashing the key is part of the cost.
 *
 *   npm run bench -- balance [--json]
 *
 * --json prints one object per line per picker and size: { name, endpoints, nsPerOp, bytesPerEndpoint,
 * bytesPerPick }; the table adds the cost of a whole call through balance().
 */

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  type BalancedEndpoint,
  balance,
  hashKey,
  leastRequest,
  maglev,
  type Picker,
  p2cPeakEwma,
  random,
  ringHash,
  roundRobin,
  subset,
  subsetLabels,
  weightedRoundRobin,
} from '@meshkit/balance';
import { createContext, type EndpointInit } from '@meshkit/core';

const pickers: Record<string, () => Picker> = {
  'round-robin': roundRobin,
  random: () => random(),
  'weighted-round-robin': weightedRoundRobin,
  'least-request': () => leastRequest(),
  'p2c-ewma': () => p2cPeakEwma(),
  'ring-hash': () => ringHash(),
  maglev: () => maglev(),
  'subset(p2c-ewma)': () => subset(),
};
const sizes = [3, 100, 1_000];
const gc = (globalThis as { gc?: () => void }).gc;

function endpointInits(n: number): EndpointInit[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `users-${i}`,
    address: `10.0.${i >> 8}.${i & 255}:8080`,
    labels: { version: i % 2 === 0 ? 'v1' : 'v2' },
    weight: 1 + (i % 3),
  }));
}

function balancer(n: number) {
  return balance<number, number>({
    service: 'bench',
    endpoints: endpointInits(n),
    connect: () => async () => 0,
    outlierDetection: false,
  });
}

function heapUsed(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

function measure(
  name: string,
  n: number,
): { nsPerOp: number; bytesPerPick: number; bytesPerEndpoint: number } {
  const b = balancer(n);
  const endpoints = b.endpoints as BalancedEndpoint[];
  // Give the load-aware pickers something to compare.
  endpoints.forEach((e, i) => {
    (e as { inFlight: number }).inFlight = i % 4;
  });
  const picker = pickers[name]!();
  picker.update(endpoints);
  const base = createContext();
  const v2 = Object.freeze({ version: 'v2' }); // one object per route, as routing hands it out
  const contexts = Array.from({ length: 1_024 }, (_, i) =>
    name === 'subset(p2c-ewma)' ? base.set(subsetLabels, v2) : base.set(hashKey, `user-${i}`),
  );
  let sink = 0;
  const run = (count: number): void => {
    for (let i = 0; i < count; i++) sink += picker.pick(i, contexts[i & 1_023]!)!.weight;
  };
  run(300_000); // warm-up: let the JIT settle
  // The median of several rounds, so a burst of other work on the machine does not decide the figure.
  const count = 400_000;
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const start = process.hrtime.bigint();
    run(count);
    rounds.push(Number(process.hrtime.bigint() - start) / count);
  }
  const nsPerOp = rounds.sort((a, b) => a - b)[3]!;

  // 20k picks stay well inside the young generation, so no scavenge hides what they allocate. The
  // smallest of three windows: a window in which the JIT happens to (re)compile counts its code objects.
  let bytesPerPick = Infinity;
  for (let w = 0; w < 3; w++) {
    const before = heapUsed();
    run(20_000);
    bytesPerPick = Math.min(bytesPerPick, Math.max(0, (process.memoryUsage().heapUsed - before) / 20_000));
  }
  if (sink === -1) console.log(sink);
  void b.close();

  // Memory per endpoint: enough balancers of this size to hold ~3,000 endpoints in total.
  const copies = Math.ceil(3_000 / n);
  const held: unknown[] = [];
  const empty = heapUsed();
  for (let c = 0; c < copies; c++) {
    const other = balancer(n);
    const p = pickers[name]!();
    p.update(other.endpoints);
    held.push(other, p);
  }
  const bytesPerEndpoint = Math.max(0, (heapUsed() - empty) / (copies * n));
  if (held.length === 0) console.log('unreachable');
  return { nsPerOp, bytesPerPick, bytesPerEndpoint };
}

/** A whole call through `balance()` (default picker) to a service that resolves at once. */
async function measureCall(n: number): Promise<number> {
  const b = balancer(n);
  const ctx = createContext();
  for (let i = 0; i < 200_000; i++) await b(i, ctx);
  const count = 1_000_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await b(i, ctx);
  const ns = Number(process.hrtime.bigint() - start) / count;
  await b.close();
  return ns;
}

interface Row {
  name: string;
  endpoints: number;
  nsPerOp: number;
  bytesPerPick: number;
  bytesPerEndpoint: number;
}

function rowsFor(name: string): Row[] {
  return sizes.map((n) => {
    const r = measure(name, n);
    return {
      name,
      endpoints: n,
      nsPerOp: Math.round(r.nsPerOp * 10) / 10,
      bytesPerPick: Math.round(r.bytesPerPick * 10) / 10,
      bytesPerEndpoint: Math.round(r.bytesPerEndpoint),
    };
  });
}

/**
 * Each picker runs in a fresh process: in a shared one, the call sites every picker passes through
 * (`load()`, `pick()`) go polymorphic and later pickers measure the JIT's history, not themselves.
 */
function rowsInChild(name: string): Row[] {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, MESHKIT_BENCH_PICKER: name },
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Row);
}

const only = process.env.MESHKIT_BENCH_PICKER;
if (only !== undefined && import.meta.main) {
  for (const row of rowsFor(only)) console.log(JSON.stringify(row));
}

export async function run({ json }: { json: boolean }): Promise<void> {
  if (gc === undefined && !json) console.log('(run with --expose-gc for memory figures)');
  const rows: Row[] = [];
  for (const name of Object.keys(pickers)) {
    for (const row of rowsInChild(name)) {
      rows.push(row);
      if (json) console.log(JSON.stringify(row));
    }
  }
  // --json lines are picker rows only (name, endpoints, nsPerOp, bytesPerEndpoint, bytesPerPick).
  if (json) return;
  const calls = [];
  for (const n of sizes) {
    calls.push({ name: 'balance-call', endpoints: n, nsPerOp: Math.round((await measureCall(n)) * 10) / 10 });
  }
  console.log('\nbalance: pick() cost and memory\n');
  console.log(
    `${'picker'.padEnd(22)}${'endpoints'.padStart(10)}${'ns/pick'.padStart(10)}${'B/pick'.padStart(9)}${'B/endpoint'.padStart(12)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(22)}${String(r.endpoints).padStart(10)}${r.nsPerOp.toFixed(1).padStart(10)}${r.bytesPerPick.toFixed(1).padStart(9)}${String(r.bytesPerEndpoint).padStart(12)}`,
    );
  }
  console.log('\nwhole call through balance() (p2c-ewma, a service that resolves at once)\n');
  for (const r of calls)
    console.log(
      `${r.name.padEnd(22)}${String(r.endpoints).padStart(10)}${r.nsPerOp.toFixed(1).padStart(10)}`,
    );
}
