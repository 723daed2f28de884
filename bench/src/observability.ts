/**
 * What observing costs the HTTP client: the HTTP client's pipeline (`clientStack` over `httpTransport`,
 * deadline, retry with budget, P2C balancer, breaker, attempt timeout; buffered GET) against the `http`
 * scenario's server (its own process), measured side by side in one run with
 *
 *   no-hook           the same pipeline built without an observation: no event code on the path at all
 *   off               the pipeline as `httpClient` builds it, no subscriber: the publishers read
 *                     `hasSubscribers` and nothing else
 *   metrics           `metrics()` on (prom-client histograms and counters per call and attempt)
 *   metrics+tracing   `metrics()` and `tracing()` on, every call sampled, spans batched to an exporter
 *                     that drops them (the cost of making spans, not of shipping them)
 *
 * Subscribers are process-wide, so the cases take turns: each slice subscribes its case, runs, and
 * closes it again, in the balanced order of the `http` scenario. Reported: requests per second at 16 and
 * 64 in flight, and each case's throughput relative to `off`.
 *
 * Beside throughput, each row reports this process's CPU time per request (the client's; the server
 * runs in its own process) and `off`'s over it: on a shared machine, where other work takes turns on
 * the cores, CPU time per request holds steadier than requests per second.
 *
 * A second part runs the same pipeline over an in-process transport that answers at once, one call at
 * a time: no sockets, so the figure is the CPU time observation adds to a call (µs of `process.cpuUsage`
 * per call, not wall time, which other work on the machine stretches). The cases take turns in rounds and
 * report the median round.
 */
import { type CallObservation, clientStack } from '@meshkit/client';
import { createContext } from '@meshkit/core';
import { type HttpRequest, type HttpResponse, httpTransport } from '@meshkit/http';
import { metrics, tracing } from '@meshkit/observability';
import { AlwaysOnSampler, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { percentile, roundOrder, slice } from './http.ts';
import { startServer } from './http-server.ts';

/** An exporter that accepts every span and keeps none. */
const discard: SpanExporter = {
  export: (_spans: ReadableSpan[], done) => done({ code: 0 }),
  shutdown: async () => {},
};

/** What `httpClient` tells observers of a request. */
const observation: CallObservation<HttpRequest> = {
  protocol: 'http',
  describe: (req) => ({ method: req.method, route: req.route }),
};

interface Mode {
  readonly name: string;
  /** Whether the pipeline is built with the observation (`httpClient`'s), or without any. */
  readonly hooked: boolean;
  /** Subscribes the case's observers; returns what stops them. */
  readonly start: () => () => Promise<void>;
}

const modes: readonly Mode[] = [
  { name: 'no-hook', hooked: false, start: () => async () => {} },
  { name: 'off', hooked: true, start: () => async () => {} },
  {
    name: 'metrics',
    hooked: true,
    start: () => {
      const m = metrics();
      return async () => m.close();
    },
  },
  {
    name: 'metrics+tracing',
    hooked: true,
    start: () => {
      const m = metrics();
      const t = tracing({ exporter: discard, sampler: new AlwaysOnSampler() });
      return async () => {
        m.close();
        await t.close();
      };
    },
  },
];

const concurrencies = [16, 64];
const sliceMs = 300;
const warmupRounds = 3;
const measuredSquares = 4;

/** Calls per in-process round; the cases take turns, one warm-up round, then the median of the rest. */
const inProcessCalls = 40_000;
const inProcessRounds = 6;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** µs per call of the pipeline over a transport that answers at once, per mode. */
async function inProcess(): Promise<{ name: string; usPerCall: number }[]> {
  const stackOf = (hooked: boolean) =>
    clientStack<HttpRequest, HttpResponse>({
      service: 'bench',
      endpoints: [{ id: 'bench-1', address: '127.0.0.1:1' }],
      connect: () => async () => ({ status: 200, headers: {}, text: '{}' }),
      policies: { deadlineMs: 5_000, attemptTimeoutMs: 2_000 },
      ...(hooked ? { observation } : {}),
    });
  const stacks = { hooked: stackOf(true), bare: stackOf(false) };
  const root = createContext();
  const request: HttpRequest = { method: 'GET', path: '/users/42', route: '/users/:id', buffer: true };
  const out: { name: string; usPerCall: number }[] = [];
  const usPerCall = new Map<string, number[]>(modes.map((m) => [m.name, []]));
  try {
    // In turns, the median round of each: one round per case, run last, swung between 2.5 and 8 µs
    // with what the loopback part left behind. (A full collection before each round doubled every
    // case's figure: the heap then grows back during the round.)
    for (let round = 0; round < inProcessRounds; round++) {
      for (const mode of roundOrder(modes, round)) {
        const stack = mode.hooked ? stacks.hooked : stacks.bare;
        const stop = mode.start();
        const cpu = process.cpuUsage();
        for (let i = 0; i < inProcessCalls; i++) await stack.service(request, root);
        const spent = process.cpuUsage(cpu);
        await stop();
        if (round > 0) usPerCall.get(mode.name)!.push((spent.user + spent.system) / inProcessCalls);
      }
    }
    for (const mode of modes) {
      out.push({ name: mode.name, usPerCall: Math.round(median(usPerCall.get(mode.name)!) * 100) / 100 });
    }
  } finally {
    await stacks.hooked.close();
    await stacks.bare.close();
  }
  return out;
}

interface Row {
  name: string;
  concurrency: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  ratioToOff: number;
  /** CPU time of this (the client's) process per request, µs. */
  cpuUsPerReq: number;
  /** `off`'s CPU time per request over this case's: the throughput ratio if the client were CPU-bound. */
  cpuRatioToOff: number;
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const server = await startServer();
  const pipeline = (hooked: boolean) =>
    clientStack<HttpRequest, HttpResponse>({
      service: 'bench',
      endpoints: [{ id: 'bench-1', address: `127.0.0.1:${server.port}` }],
      connect: (endpoint) => httpTransport(endpoint.address),
      policies: { deadlineMs: 5_000, attemptTimeoutMs: 2_000 },
      ...(hooked ? { observation } : {}),
    });
  const hooked = pipeline(true);
  const bare = pipeline(false);
  const root = createContext();
  const request: HttpRequest = { method: 'GET', path: '/users/42', route: '/users/:id', buffer: true };
  const callOf = (stack: typeof hooked) => async () =>
    JSON.parse((await stack.service(request, root)).text ?? '');
  const calls = { hooked: callOf(hooked), bare: callOf(bare) };
  await calls.hooked();
  await calls.bare();
  const rows: Row[] = [];
  try {
    for (const concurrency of concurrencies) {
      const timeMs = new Map(modes.map((m) => [m.name, 0]));
      const cpuUs = new Map(modes.map((m) => [m.name, 0]));
      const latencies = new Map<string, number[]>(modes.map((m) => [m.name, []]));
      for (let r = 0; r < warmupRounds + measuredSquares * modes.length; r++) {
        for (const mode of roundOrder(modes, r)) {
          const stop = mode.start();
          const sink: number[] = [];
          await new Promise((resolve) => setImmediate(resolve));
          const cpu = process.cpuUsage();
          const ms = await slice(
            { call: mode.hooked ? calls.hooked : calls.bare },
            concurrency,
            sliceMs,
            sink,
          );
          const spent = process.cpuUsage(cpu);
          await stop();
          if (r < warmupRounds) continue;
          timeMs.set(mode.name, timeMs.get(mode.name)! + ms);
          cpuUs.set(mode.name, cpuUs.get(mode.name)! + spent.user + spent.system);
          latencies.get(mode.name)!.push(...sink);
        }
      }
      const perSec = (name: string): number => (latencies.get(name)!.length / timeMs.get(name)!) * 1000;
      const base = perSec('off');
      const cpuPerReq = (name: string): number => cpuUs.get(name)! / latencies.get(name)!.length;
      for (const mode of modes) {
        const sorted = Float64Array.from(latencies.get(mode.name)!).sort();
        rows.push({
          name: mode.name,
          concurrency,
          reqPerSec: Math.round(perSec(mode.name)),
          p50Ms: Math.round(percentile(sorted, 50) * 1000) / 1000,
          p99Ms: Math.round(percentile(sorted, 99) * 1000) / 1000,
          ratioToOff: Math.round((perSec(mode.name) / base) * 1000) / 1000,
          cpuUsPerReq: Math.round(cpuPerReq(mode.name) * 100) / 100,
          cpuRatioToOff: Math.round((cpuPerReq('off') / cpuPerReq(mode.name)) * 1000) / 1000,
        });
      }
    }
  } finally {
    await hooked.close();
    await bare.close();
    server.stop();
  }
  const costs = await inProcess();
  if (json) {
    for (const row of rows) console.log(JSON.stringify(row));
    for (const c of costs) {
      console.log(
        JSON.stringify({
          name: `in-process ${c.name}`,
          reqPerSec: Math.round(1e6 / c.usPerCall),
          usPerCall: c.usPerCall,
        }),
      );
    }
    return;
  }
  console.log(
    `observability: the HTTP client pipeline, GET of a small JSON body, Node ${process.version}; ` +
      `${measuredSquares * modes.length} interleaved slices of ${sliceMs} ms per case`,
  );
  for (const concurrency of concurrencies) {
    console.log('');
    console.log(`${concurrency} in flight`);
    console.log(
      `${'observers'.padEnd(20)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'x off'.padStart(10)}` +
        `${'cpu µs/req'.padStart(12)}${'cpu x off'.padStart(11)}`,
    );
    for (const row of rows.filter((r) => r.concurrency === concurrency)) {
      console.log(
        `${row.name.padEnd(20)}${String(row.reqPerSec).padStart(10)}${row.p50Ms.toFixed(3).padStart(10)}` +
          `${row.p99Ms.toFixed(3).padStart(10)}${row.ratioToOff.toFixed(3).padStart(10)}` +
          `${row.cpuUsPerReq.toFixed(2).padStart(12)}${row.cpuRatioToOff.toFixed(3).padStart(11)}`,
      );
    }
  }
  console.log('');
  console.log(
    `in process, one call at a time (median of ${inProcessRounds - 1} rounds of ${inProcessCalls} calls per case), CPU time`,
  );
  console.log(`${'observers'.padEnd(20)}${'µs/call'.padStart(10)}${'added µs'.padStart(10)}`);
  const floor = costs.find((c) => c.name === 'no-hook')!.usPerCall;
  for (const c of costs) {
    console.log(
      `${c.name.padEnd(20)}${c.usPerCall.toFixed(2).padStart(10)}${(c.usPerCall - floor).toFixed(2).padStart(10)}`,
    );
  }
}
