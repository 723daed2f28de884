/**
 * Per-call overhead of resilience policies on the success path, peers side by side in one run:
 *
 *   bare                       `await fn()`
 *   meshkit                    stack(timeout, retry, circuitBreaker, bulkhead)
 *   cockatiel                  wrap(timeout, retry, circuitBreaker, bulkhead), its defaults (abortOnReturn)
 *   cockatiel-no-abort         the same with `abortOnReturn: false`
 *   opossum                    a breaker with a timeout
 *
 * and two rows that explain the meshkit figure rather than compete with it:
 *
 *   floor-rejectable-promise   the least any timeout costs that rejects at expiry whatever the work does:
 *                              `new Promise` plus one `.then` on the work, and nothing else
 *   meshkit-cancels-promptly   the same four layers over work marked with `markCancelsPromptly` (as
 *                              meshkit's transports are), where the timeout needs no promise of its own
 *
 * Every variant wraps the same async function and runs the same kind of sequential calls. Each
 * measurement runs in a fresh process of the same Node binary (policies-child.ts), because variants
 * sharing one process share call sites that then go polymorphic and slow every variant down unevenly.
 * Costs are CPU time per call (see `round()`), which a loaded machine disturbs far less than wall time,
 * but not enough: on a shared virtual machine a whole process sometimes runs at half speed (a neighbour
 * on the same physical core), every round of it alike. So each process also measures the bare call, in
 * rounds taking turns with the variant's, and the ratio to bare is taken within each process, where that
 * slowdown mostly cancels out (see `quietest()` for what remains); the figures reported are medians over
 * the less disturbed half of the processes, which run interleaved across variants. Then the heap is compared before and after 1M meshkit calls.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createContext, markCancelsPromptly, type Service, stack } from '@meshkit/core';
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
  /**
   * Calls per round: fewer for the slow variants, so every round lasts tens of milliseconds (far above
   * the clock's resolution) and a cockatiel process does not take ten times as long as the others,
   * which leaves time for more processes per variant.
   */
  readonly calls: number;
}

const callsPerRound = 50_000;
const slowCallsPerRound = 5_000;
const warmupRounds = 3;
const measuredRounds = 11;
const timeoutMs = 1_000;

const work = async (): Promise<number> => 42;

/** The floor's per-call state: where the rejectable promise's resolving functions are kept. */
class Pending {
  resolve: (value: number) => void = noop;
  reject: (error: unknown) => void = noop;
}
const noop = (): void => {};

/**
 * The least a timeout that rejects at expiry, whether or not the work honours its signal, must do per
 * call: make a promise it can reject, and settle it from one `.then` on the work. No timer, no context,
 * no bookkeeping: a floor, not a timeout.
 */
function rejectablePromise(): Promise<number> {
  const pending = new Pending();
  const promise = new Promise<number>((resolve, reject) => {
    pending.resolve = resolve;
    pending.reject = reject;
  });
  work().then(
    (value) => pending.resolve(value),
    (error: unknown) => pending.reject(error),
  );
  return promise;
}

function meshkitStack(service: Service<undefined, number>): Service<undefined, number> {
  return stack<undefined, number>(
    timeout({ timeoutMs }),
    retry({ maxAttempts: 3 }),
    circuitBreaker({ halfOpenAfterMs: 10_000 }),
    bulkhead({ maxConcurrent: 10 }),
  ).wrap(service);
}

function variants(): Variant[] {
  const ctx = createContext();
  const meshkit = meshkitStack(work);
  // A copy of `work`, so marking it leaves the function the other variants call unmarked.
  const promptly = meshkitStack(markCancelsPromptly(async (): Promise<number> => 42));

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
    { name: 'meshkit', call: () => meshkit(undefined, ctx), calls: callsPerRound },
    { name: 'cockatiel', call: () => cockatiel.execute(work), calls: slowCallsPerRound },
    { name: 'cockatiel-no-abort', call: () => cockatielNoAbort.execute(work), calls: slowCallsPerRound },
    { name: 'opossum', call: () => opossum.fire(), calls: slowCallsPerRound },
    { name: 'floor-rejectable-promise', call: rejectablePromise, calls: callsPerRound },
    { name: 'meshkit-cancels-promptly', call: () => promptly(undefined, ctx), calls: callsPerRound },
  ];
}

/**
 * One round's cost per call in CPU time (user + system) of this process: unlike wall time it does not
 * count the time other processes on a loaded machine held the core, and it does count the garbage
 * collector's helper threads, i.e. the real cost of what a variant allocates.
 */
async function round(variant: Variant): Promise<number> {
  const { call, calls } = variant;
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) await call();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1_000) / calls;
}

/**
 * A round of the bare call, measured beside every variant in its own process. The same loop as
 * `round()`, written out again so that its call site is its own: sharing one would make that site
 * polymorphic and slow both.
 */
async function bareRound(): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < callsPerRound; i++) await work();
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
  const service = meshkitStack(work);
  for (let i = 0; i < 10_000; i++) await service(undefined, ctx);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i++) await service(undefined, ctx);
  gc();
  return process.memoryUsage().heapUsed - before;
}

/**
 * Measures one variant in this process, in rounds alternating with rounds of the bare call: warm-up
 * rounds, then the median of the measured rounds of each. Returns `[variant, bare]` in ns per call.
 */
export async function measureHere(name: string): Promise<[number, number]> {
  const variant = variants().find((v) => v.name === name);
  if (variant === undefined) throw new Error(`unknown variant ${name}`);
  const own: number[] = [];
  const bare: number[] = [];
  for (let r = 0; r < warmupRounds + measuredRounds; r++) {
    const ns = await round(variant);
    const bareNs = await bareRound();
    if (r >= warmupRounds) {
      own.push(ns);
      bare.push(bareNs);
    }
  }
  return [median(own), median(bare)];
}

/** Runs `policies-child.ts <task>` in a fresh process of this Node and returns the numbers it prints. */
function inChild(task: string): number[] {
  const child = spawnSync(
    process.execPath,
    ['--conditions=@meshkit/source', '--expose-gc', join(import.meta.dirname, 'policies-child.ts'), task],
    { encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`policies-child ${task} failed: ${child.stderr}`);
  return child.stdout.trim().split(' ').map(Number);
}

const processesPerVariant = 11;

/** One process's figures for a variant: its ns per call, and the bare call's in the same process. */
interface Sample {
  readonly ns: number;
  readonly bareNs: number;
}

/**
 * The less disturbed half of a variant's processes, judged by their bare rounds. A neighbour on the same
 * core slows a process as a whole, and not evenly: code that allocates more suffers more, so even a
 * ratio within one process drifts upward in a disturbed one.
 */
function quietest(samples: readonly Sample[]): Sample[] {
  const sorted = [...samples].sort((a, b) => a.bareNs - b.bareNs);
  return sorted.slice(0, Math.ceil(sorted.length / 2));
}

/** Measured against the bare call in their own processes; the bare call's row comes from those processes. */
const competing = ['meshkit', 'cockatiel', 'cockatiel-no-abort', 'opossum'];
const explaining = ['floor-rejectable-promise', 'meshkit-cancels-promptly'];

export async function run({ json }: { json: boolean }): Promise<void> {
  const names = [...competing, ...explaining];
  const samples = new Map<string, Sample[]>(names.map((n) => [n, []]));
  for (let p = 0; p < processesPerVariant; p++) {
    // Rotate the order each pass so no variant always runs right after the same neighbour.
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + p) % names.length]!;
      const [ns, bareNs] = inChild(name) as [number, number];
      samples.get(name)!.push({ ns, bareNs });
    }
  }
  const quiet = new Map(names.map((name) => [name, quietest(samples.get(name)!)]));
  const round1 = (x: number): number => Math.round(x * 10) / 10;
  const rows = [
    {
      name: 'bare',
      nsPerOp: round1(median([...quiet.values()].flat().map((s) => s.bareNs))),
      ratioToBare: 1,
    },
    ...names.map((name) => ({
      name,
      nsPerOp: round1(median(quiet.get(name)!.map((s) => s.ns))),
      ratioToBare: Math.round(median(quiet.get(name)!.map((s) => s.ns / s.bareNs)) * 100) / 100,
    })),
  ];
  const heapCalls = 1_000_000;
  const growth = inChild(`heap:${heapCalls}`)[0]!;
  if (json) {
    // The heap figure rides on the meshkit row, so every line keeps the { name, nsPerOp, ratioToBare } shape.
    for (const row of rows) {
      console.log(JSON.stringify(row.name === 'meshkit' ? { ...row, heapGrowthBytesAfter1M: growth } : row));
    }
    return;
  }
  console.log(
    `policies: success-path CPU time per call, Node ${process.version}; medians over the quieter half of ${processesPerVariant} processes per variant, each the median of ${measuredRounds} rounds of ${callsPerRound.toLocaleString('en')} calls (${slowCallsPerRound.toLocaleString('en')} for cockatiel and opossum), in turn with rounds of the bare call; x bare is the median of the ratios within each process`,
  );
  const print = (row: (typeof rows)[number]): void =>
    console.log(
      `${row.name.padEnd(26)}${row.nsPerOp.toFixed(1).padStart(10)}${row.ratioToBare.toFixed(2).padStart(10)}`,
    );
  console.log('');
  console.log(`${'variant'.padEnd(26)}${'ns/op'.padStart(10)}${'x bare'.padStart(10)}`);
  for (const row of rows) if (!explaining.includes(row.name)) print(row);
  console.log('');
  console.log('explaining the meshkit row:');
  for (const row of rows) if (explaining.includes(row.name)) print(row);
  const ratio = (name: string): number => rows.find((r) => r.name === name)!.ratioToBare;
  console.log('');
  console.log(`meshkit vs opossum:   ${(ratio('opossum') / ratio('meshkit')).toFixed(1)}x cheaper`);
  console.log(`meshkit vs cockatiel: ${(ratio('cockatiel') / ratio('meshkit')).toFixed(1)}x cheaper`);
  console.log(
    `meshkit vs the floor: ${(ratio('meshkit') / ratio('floor-rejectable-promise')).toFixed(2)}x (a rejectable promise alone costs ${ratio('floor-rejectable-promise').toFixed(2)}x bare; the stack costs ${(ratio('meshkit') - ratio('floor-rejectable-promise')).toFixed(2)}x bare beyond it)`,
  );
  console.log(
    `heap growth after ${heapCalls.toLocaleString('en')} meshkit calls: ${(growth / 1024).toFixed(0)} KiB${(globalThis as { gc?: unknown }).gc ? '' : ' (run with --expose-gc for a precise figure)'}`,
  );
}
