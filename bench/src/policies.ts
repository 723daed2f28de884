/**
 * Per-call overhead of resilience policies on the success path, peers side by side in one run:
 *
 *   bare                 `await fn()`
 *   meshkit              stack(timeout, retry, circuitBreaker, bulkhead)
 *   cockatiel            wrap(timeout, retry, circuitBreaker, bulkhead), its defaults (abortOnReturn)
 *   cockatiel-no-abort   the same with `abortOnReturn: false`
 *   opossum              a breaker with a timeout
 *
 * Every variant wraps the same async function and runs the same number of sequential calls. Each
 * measurement runs in a fresh process of the same Node binary (policies-child.ts), because variants
 * sharing one process share call sites that then go polymorphic and slow every variant down unevenly.
 * Processes are interleaved across variants (so drift and background load hit all alike) and the median
 * over processes is reported. Costs are CPU time per call (see `round()`), which a loaded machine
 * disturbs far less than wall time. Then the heap is compared before and after 1M meshkit calls.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createContext, type Service, stack } from '@meshkit/core';
import { bulkhead, circuitBreaker, retry, timeout } from '@meshkit/policies';
import {
  ConsecutiveBreaker,
  bulkhead as cBulkhead,
  circuitBreaker as cCircuitBreaker,
  retry as cRetry,
  timeout as cTimeout,
  wrap as cWrap,
  handleAll,
  TimeoutStrategy,
} from 'cockatiel';
import CircuitBreaker from 'opossum';

interface Variant {
  readonly name: string;
  readonly call: () => Promise<unknown>;
}

const callsPerRound = 50_000;
const warmupRounds = 3;
const measuredRounds = 11;
const timeoutMs = 1_000;

const work = async (): Promise<number> => 42;

function variants(): Variant[] {
  const ctx = createContext();
  const service: Service<undefined, number> = work;
  const meshkit = stack<undefined, number>(
    timeout({ timeoutMs }),
    retry({ maxAttempts: 3 }),
    circuitBreaker({ halfOpenAfterMs: 10_000 }),
    bulkhead({ maxConcurrent: 10 }),
  ).wrap(service);

  const cockatielPolicy = (abortOnReturn: boolean) =>
    cWrap(
      cTimeout(timeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn }),
      cRetry(handleAll, { maxAttempts: 3 }),
      cCircuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
      cBulkhead(10),
    );
  const cockatiel = cockatielPolicy(true);
  const cockatielNoAbort = cockatielPolicy(false);
  const opossum = new CircuitBreaker(work, { timeout: timeoutMs });

  return [
    { name: 'bare', call: () => work() },
    { name: 'meshkit', call: () => meshkit(undefined, ctx) },
    { name: 'cockatiel', call: () => cockatiel.execute(work) },
    { name: 'cockatiel-no-abort', call: () => cockatielNoAbort.execute(work) },
    { name: 'opossum', call: () => opossum.fire() },
  ];
}

/**
 * One round's cost per call in CPU time (user + system) of this process: unlike wall time it does not
 * count the time other processes on a loaded machine held the core, and it does count the garbage
 * collector's helper threads, i.e. the real cost of what a variant allocates.
 */
async function round(variant: Variant): Promise<number> {
  const call = variant.call;
  const start = process.cpuUsage();
  for (let i = 0; i < callsPerRound; i++) await call();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1_000) / callsPerRound;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export async function heapGrowth(calls: number): Promise<number> {
  const ctx = createContext();
  const service = stack<undefined, number>(
    timeout({ timeoutMs }),
    retry({ maxAttempts: 3 }),
    circuitBreaker(),
    bulkhead(),
  ).wrap(work);
  for (let i = 0; i < 10_000; i++) await service(undefined, ctx);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i++) await service(undefined, ctx);
  gc();
  return process.memoryUsage().heapUsed - before;
}

/** Measures one variant in this process: warm-up rounds, then the median of the measured rounds. */
export async function measureHere(name: string): Promise<number> {
  const variant = variants().find((v) => v.name === name);
  if (variant === undefined) throw new Error(`unknown variant ${name}`);
  const samples: number[] = [];
  for (let r = 0; r < warmupRounds + measuredRounds; r++) {
    const ns = await round(variant);
    if (r >= warmupRounds) samples.push(ns);
  }
  return median(samples);
}

/** Runs `policies-child.ts <task>` in a fresh process of this Node and returns the number it prints. */
function inChild(task: string): number {
  const child = spawnSync(
    process.execPath,
    ['--conditions=@meshkit/source', '--expose-gc', join(import.meta.dirname, 'policies-child.ts'), task],
    { encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`policies-child ${task} failed: ${child.stderr}`);
  return Number(child.stdout.trim());
}

const processesPerVariant = 5;

export async function run({ json }: { json: boolean }): Promise<void> {
  const names = ['bare', 'meshkit', 'cockatiel', 'cockatiel-no-abort', 'opossum'];
  const samples = new Map<string, number[]>(names.map((n) => [n, []]));
  for (let p = 0; p < processesPerVariant; p++) {
    // Rotate the order each pass so no variant always runs right after the same neighbour.
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + p) % names.length]!;
      samples.get(name)!.push(inChild(name));
    }
  }
  const bare = median(samples.get('bare')!);
  const rows = names.map((name) => {
    const nsPerOp = median(samples.get(name)!);
    return {
      name,
      nsPerOp: Math.round(nsPerOp * 10) / 10,
      ratioToBare: Math.round((nsPerOp / bare) * 100) / 100,
    };
  });
  const heapCalls = 1_000_000;
  const growth = inChild(`heap:${heapCalls}`);
  if (json) {
    // The heap figure rides on the meshkit row, so every line keeps the { name, nsPerOp, ratioToBare } shape.
    for (const row of rows) {
      console.log(JSON.stringify(row.name === 'meshkit' ? { ...row, heapGrowthBytesAfter1M: growth } : row));
    }
    return;
  }
  console.log(
    `policies: success-path CPU time per call, Node ${process.version}, median of ${processesPerVariant} processes per variant, each the median of ${measuredRounds} rounds x ${callsPerRound} calls`,
  );
  console.log('');
  console.log(`${'variant'.padEnd(22)}${'ns/op'.padStart(10)}${'x bare'.padStart(10)}`);
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(22)}${row.nsPerOp.toFixed(1).padStart(10)}${row.ratioToBare.toFixed(2).padStart(10)}`,
    );
  }
  const mesh = rows.find((r) => r.name === 'meshkit')!;
  const opossum = rows.find((r) => r.name === 'opossum')!;
  const cockatiel = rows.find((r) => r.name === 'cockatiel')!;
  console.log('');
  console.log(`meshkit vs opossum:   ${(opossum.nsPerOp / mesh.nsPerOp).toFixed(1)}x cheaper`);
  console.log(`meshkit vs cockatiel: ${(cockatiel.nsPerOp / mesh.nsPerOp).toFixed(1)}x cheaper`);
  console.log(
    `heap growth after ${heapCalls.toLocaleString('en')} meshkit calls: ${(growth / 1024).toFixed(0)} KiB${(globalThis as { gc?: unknown }).gc ? '' : ' (run with --expose-gc for a precise figure)'}`,
  );
}
