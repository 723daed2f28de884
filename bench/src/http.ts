/**
 * REST client throughput and latency against one local keep-alive server in its own process, peers side
 * by side in one run:
 *
 *   undici-pool        undici `Pool.request`, body read as JSON (the floor: what meshkit's transport uses)
 *   undici-retryagent  undici `RetryAgent` over a `Pool`
 *   fetch              Node's global `fetch`
 *   got                got with a keep-alive agent, retries off
 *   axios              axios with a keep-alive agent
 *   meshkit            `httpClient` with discovery (a registry watch), P2C + peak EWMA, outlier detection,
 *                      deadline, retry with budget, per-endpoint breaker and per-attempt timeout, all on
 *
 * At 16 and 64 requests in flight, cases run in slices of `sliceMs` each, in a fresh (seeded) order
 * every round so background load hits every case alike, each slice after a full collection so none
 * inherits another's garbage (the script runs with `--expose-gc`); the first rounds are warm-up. The
 * undici-based clients all keep undici's connection defaults (one connection per request in flight, no
 * pipelining), which are also meshkit's. Reported: requests per second over the measured slices, p50/p99
 * latency over every measured request, and throughput relative to undici's Pool.
 */
import { Agent as NodeAgent } from 'node:http';
import { staticRegistry } from '@meshkit/discovery';
import { httpClient } from '@meshkit/http';
import axios from 'axios';
import got from 'got';
import { Pool, RetryAgent } from 'undici';
import { startServer } from './http-server.ts';

interface Case {
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
const measuredRounds = 16;

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
async function slice(c: Case, concurrency: number, ms: number, latencies: number[]): Promise<number> {
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
 * A full collection before every slice, so each case pays for its own garbage only. Without it, a slice
 * inherits the old-generation debt of the one before (got and axios leave far more than the undici-based
 * clients), and with a fixed rotation the same case always followed the same heavy allocator.
 */
async function settleHeap(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((resolve) => setImmediate(resolve));
}

/** A small deterministic PRNG (mulberry32), so every run uses the same slice orders. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The cases in a fresh order per round (Fisher-Yates), so no case always runs after the same one. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function percentile(sorted: Float64Array, p: number): number {
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
      const random = seededRandom(concurrency);
      for (let r = 0; r < warmupRounds + measuredRounds; r++) {
        for (const c of shuffled(all, random)) {
          const sink: number[] = [];
          await settleHeap();
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
      `${measuredRounds} interleaved slices of ${sliceMs} ms per case`,
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
