/**
 * REST client throughput and latency against one local keep-alive server in its own process, peers side
 * by side in one run:
 *
 *   undici-pool        undici `Pool.request`, body read as JSON (the floor: what meshkit's transport uses)
 *   undici-retryagent  undici `RetryAgent` over a `Pool`
 *   fetch              Node's global `fetch`
 *   got                got with a keep-alive agent, retries off
 *   axios              axios with a keep-alive agent
 *   opossum            opossum's breaker with a timeout around `Pool.request` (a Pool of its own)
 *   cockatiel          cockatiel's wrap(retry, circuitBreaker, timeout) around `Pool.request`, the
 *                      timeout's signal passed to undici (a Pool of its own)
 *   meshkit            `httpClient` with discovery (a registry watch), P2C + peak EWMA, outlier detection,
 *                      deadline, retry with budget, per-endpoint breaker and per-attempt timeout, all on
 *
 * At 16 and 64 requests in flight, cases run in slices of `sliceMs` each, in orders that balance which
 * case runs after which (see `roundOrder`), so background load and what a slice leaves behind hit every
 * case alike; the first rounds are warm-up. The undici-based clients all keep undici's connection
 * defaults (one connection per request in flight, no pipelining), which are also meshkit's. Reported:
 * requests per second over the measured slices, p50/p99 latency over every measured request, and
 * throughput relative to undici's Pool.
 */
import { Agent as NodeAgent } from 'node:http';
import { staticRegistry } from '@meshkit/discovery';
import { httpClient } from '@meshkit/http';
import axios from 'axios';
import {
  ConsecutiveBreaker,
  circuitBreaker as cCircuitBreaker,
  retry as cRetry,
  timeout as cTimeout,
  wrap as cWrap,
  handleAll,
  TimeoutStrategy,
} from 'cockatiel';
import got from 'got';
import CircuitBreaker from 'opossum';
import { Pool, RetryAgent } from 'undici';
import { startServer } from './http-server.ts';

export interface Case {
  readonly name: string;
  readonly call: () => Promise<unknown>;
  readonly close: () => Promise<unknown>;
}

const concurrencies = [16, 64];
/**
 * Slices last a fixed time, not a fixed count: each case is then exposed to the machine's background
 * load for as long as every other, and many short rounds average that load out better than a few long
 * ones (with counts, a got or axios slice took seven times as long as a Pool slice).
 */
const sliceMs = 300;
const warmupRounds = 2;
/** Full squares of {@link roundOrder} (one round per case) to measure. */
const measuredSquares = 3;

async function cases(port: number): Promise<Case[]> {
  const origin = `http://127.0.0.1:${port}`;
  const path = '/users/42';

  const pool = new Pool(origin);
  const retryPool = new Pool(origin);
  const retryAgent = new RetryAgent(retryPool, { maxRetries: 2 });
  const nodeAgent = new NodeAgent({ keepAlive: true, maxSockets: Infinity });
  const gotClient = got.extend({ prefixUrl: origin, agent: { http: nodeAgent }, retry: { limit: 0 } });
  const axiosAgent = new NodeAgent({ keepAlive: true, maxSockets: Infinity });
  const axiosClient = axios.create({ baseURL: origin, httpAgent: axiosAgent });

  const registry = staticRegistry({
    instances: [{ id: 'bench-1', service: 'bench', address: '127.0.0.1', port }],
  });
  const meshkit = httpClient({
    service: 'bench',
    registry,
    policies: { deadlineMs: 5_000, attemptTimeoutMs: 2_000 },
  });
  await meshkit.get(path); // discovery delivers its first set

  const opossumPool = new Pool(origin);
  const opossum = new CircuitBreaker(
    async () => (await opossumPool.request({ method: 'GET', path })).body.json(),
    { timeout: 2_000 },
  );
  const cockatielPool = new Pool(origin);
  const cockatiel = cWrap(
    cRetry(handleAll, { maxAttempts: 3 }),
    cCircuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
    cTimeout(2_000, TimeoutStrategy.Aggressive),
  );

  return [
    {
      name: 'undici-pool',
      call: async () => (await pool.request({ method: 'GET', path })).body.json(),
      close: () => pool.close(),
    },
    {
      name: 'undici-retryagent',
      call: async () => (await retryAgent.request({ origin, method: 'GET', path })).body.json(),
      close: () => retryAgent.close(),
    },
    { name: 'fetch', call: async () => (await fetch(`${origin}${path}`)).json(), close: async () => {} },
    {
      name: 'got',
      call: () => gotClient.get(path.slice(1)).json(),
      close: async () => nodeAgent.destroy(),
    },
    {
      name: 'axios',
      call: async () => (await axiosClient.get(path)).data,
      close: async () => axiosAgent.destroy(),
    },
    {
      name: 'opossum',
      call: () => opossum.fire(),
      close: async () => {
        opossum.shutdown();
        await opossumPool.close();
      },
    },
    {
      name: 'cockatiel',
      call: () =>
        cockatiel.execute(async ({ signal }) =>
          (await cockatielPool.request({ method: 'GET', path, signal })).body.json(),
        ),
      close: () => cockatielPool.close(),
    },
    {
      name: 'meshkit',
      call: () => meshkit.get(path),
      close: async () => {
        await meshkit.close();
        await registry.close();
      },
    },
  ];
}

/** Runs calls with `concurrency` in flight for about `ms`; returns the wall time in ms and each latency. */
export async function slice(
  c: Pick<Case, 'call'>,
  concurrency: number,
  ms: number,
  latencies: number[],
): Promise<number> {
  const t0 = performance.now();
  const end = t0 + ms;
  const worker = async (): Promise<void> => {
    let now = performance.now();
    while (now < end) {
      const start = now;
      await c.call();
      now = performance.now();
      latencies.push(now - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now() - t0;
}

/**
 * The order of the cases in round `r`: rows of a Williams design (a balanced Latin square), so over
 * every `n` rounds each case runs first once and right after every other case exactly once. What a slice
 * leaves behind (garbage to collect, a busier server) then falls on every case alike; a plain rotation
 * made the same case always follow the same one (meshkit ran after axios, the heaviest allocator, in
 * every round, and Pool after meshkit).
 */
export function roundOrder<T>(items: readonly T[], r: number): T[] {
  const n = items.length;
  const first: number[] = [];
  for (let i = 0, lo = 0, hi = n - 1; i < n; i++) first.push(i % 2 === 0 ? lo++ : hi--);
  const row = first.map((k) => items[(k + r) % n]!);
  // For an odd count, every other square runs reversed to balance the pairs.
  return n % 2 === 1 && Math.floor(r / n) % 2 === 1 ? row.reverse() : row;
}

export function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Row {
  name: string;
  concurrency: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  ratioToUndici: number;
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const server = await startServer();
  const all = await cases(server.port);
  const rows: Row[] = [];
  try {
    for (const concurrency of concurrencies) {
      const timeMs = new Map<string, number>(all.map((c) => [c.name, 0]));
      const counts = new Map<string, number>(all.map((c) => [c.name, 0]));
      const latencies = new Map<string, number[]>(all.map((c) => [c.name, []]));
      const measuredRounds = measuredSquares * all.length;
      for (let r = 0; r < warmupRounds + measuredRounds; r++) {
        for (const c of roundOrder(all, r)) {
          const sink: number[] = [];
          await new Promise((resolve) => setImmediate(resolve));
          const ms = await slice(c, concurrency, sliceMs, sink);
          if (r < warmupRounds) continue;
          timeMs.set(c.name, timeMs.get(c.name)! + ms);
          counts.set(c.name, counts.get(c.name)! + sink.length);
          latencies.get(c.name)!.push(...sink);
        }
      }
      const perSec = (name: string): number => (counts.get(name)! / timeMs.get(name)!) * 1000;
      const base = perSec('undici-pool');
      for (const c of all) {
        const sorted = Float64Array.from(latencies.get(c.name)!).sort();
        rows.push({
          name: c.name,
          concurrency,
          reqPerSec: Math.round(perSec(c.name)),
          p50Ms: Math.round(percentile(sorted, 50) * 1000) / 1000,
          p99Ms: Math.round(percentile(sorted, 99) * 1000) / 1000,
          ratioToUndici: Math.round((perSec(c.name) / base) * 100) / 100,
        });
      }
    }
  } finally {
    for (const c of all) await c.close();
    server.stop();
  }
  if (json) {
    for (const row of rows) console.log(JSON.stringify(row));
    return;
  }
  console.log(
    `http: GET of a small JSON body from a keep-alive server in another process, Node ${process.version}; ` +
      `${(measuredSquares * rows.length) / concurrencies.length} interleaved slices of ${sliceMs} ms per case`,
  );
  for (const concurrency of concurrencies) {
    console.log('');
    console.log(`${concurrency} in flight`);
    console.log(
      `${'client'.padEnd(20)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'x undici'.padStart(10)}`,
    );
    for (const row of rows.filter((r) => r.concurrency === concurrency)) {
      console.log(
        `${row.name.padEnd(20)}${String(row.reqPerSec).padStart(10)}${row.p50Ms.toFixed(3).padStart(10)}` +
          `${row.p99Ms.toFixed(3).padStart(10)}${row.ratioToUndici.toFixed(2).padStart(10)}`,
      );
    }
  }
}
