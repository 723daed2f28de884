/**
 * gRPC unary throughput and latency: `GetUser` against a server in its own process, peers side by side
 * in one run.
 *
 * Clients, all against the meshkit server:
 *   grpc-js            a stock @grpc/grpc-js client from the .proto (proto-loader), one channel
 *   nice-grpc          nice-grpc over grpc-js with its retry and deadline middleware
 *   connect            @connectrpc/connect-node's gRPC transport (HTTP/2) with the generated service
 *   meshkit-transport  meshkit's lean node:http2 transport alone (one endpoint, no policies)
 *   meshkit            grpcClient with discovery (a registry watch), P2C + peak EWMA, deadline, retry
 *                      with budget, per-endpoint breaker and attempt timeout, all on
 *
 * Servers, each measured with the stock grpc-js client: grpc-js, connect (connect-node's handler on
 * node:http2) and meshkit (grpcServer).
 *
 * At 16 and 64 calls in flight, cases run in slices of `sliceMs` each, in orders that balance which case
 * runs after which (a Williams design), so background load hits every case alike; the first rounds are
 * warm-up for every case alike (connections opened, code optimized). Before every slice a full garbage
 * collection runs in this process and in the servers, so no case is charged for collecting what another
 * left. Reported: calls per second over the measured slices, p50/p99 latency over every measured call,
 * throughput and p99 relative to the first case (raw grpc-js), and the median over rounds of each round's
 * p99 ratio (the robust figure on a shared machine, where one stalled slice sets a pooled p99).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { create } from '@bufbuild/protobuf';
import { createClient as createConnectClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createContext } from '@meshkit/core';
import { staticRegistry } from '@meshkit/discovery';
import { GetUserRequestSchema, grpcClient, grpcTransport, UserService } from '@meshkit/grpc';
import { createChannel, createClientFactory } from 'nice-grpc';
import { deadlineMiddleware } from 'nice-grpc-client-middleware-deadline';
import { retryMiddleware } from 'nice-grpc-client-middleware-retry';

export interface Case {
  readonly name: string;
  readonly call: () => Promise<unknown>;
  readonly close: () => Promise<unknown>;
}

const concurrencies = [16, 64];
const sliceMs = 300;
const warmupRounds = 2;
/** Measured squares per concurrency: 3, or `--squares=N` (more settles the ratios on a busy machine). */
const measuredSquares = Number(
  process.argv.find((a) => a.startsWith('--squares='))?.slice('--squares='.length) ?? 3,
);
if (!Number.isInteger(measuredSquares) || measuredSquares < 1) throw new Error('--squares must be >= 1');
const serverKinds = ['grpc-js', 'connect', 'meshkit'] as const;

const protoDir = join(import.meta.dirname, '..', '..', 'packages', 'grpc', 'proto');
const definition = protoLoader.loadSync('user/user_service.proto', {
  includeDirs: [protoDir],
  longs: String,
  enums: String,
});
const StockUsers = (
  grpc.loadPackageDefinition(definition) as unknown as {
    user: { UserService: grpc.ServiceClientConstructor };
  }
).user.UserService;

function stockCase(name: string, port: number): Case {
  const client = new StockUsers(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as grpc.Client & {
    getUser(req: unknown, cb: (err: grpc.ServiceError | null, res: unknown) => void): void;
  };
  const request = { id: '42' };
  return {
    name,
    call: () =>
      new Promise((resolve, reject) =>
        client.getUser(request, (err, res) => (err === null ? resolve(res) : reject(err))),
      ),
    close: async () => client.close(),
  };
}

export async function clientCases(port: number): Promise<Case[]> {
  const address = `127.0.0.1:${port}`;

  const niceChannel = createChannel(address);
  const nice = createClientFactory()
    .use(retryMiddleware)
    .use(deadlineMiddleware)
    .create(StockUsers.service, niceChannel) as unknown as {
    // Keyed by the proto's method names: nice-grpc takes grpc-js service definitions as they are.
    GetUser(req: unknown, options: Record<string, unknown>): Promise<unknown>;
  };

  const connectTransport = createGrpcTransport({ baseUrl: `http://${address}` });
  const connect = createConnectClient(UserService, connectTransport);

  const transport = grpcTransport(address);
  const root = createContext();
  const rawRequest = {
    method: UserService.method.getUser,
    message: create(GetUserRequestSchema, { id: '42' }),
  };

  const registry = staticRegistry({
    instances: [{ id: 'bench-1', service: 'bench', address: '127.0.0.1', port, protocols: ['grpc'] }],
  });
  const meshkit = grpcClient(UserService, {
    service: 'bench',
    registry,
    policies: { deadlineMs: 5_000, attemptTimeoutMs: 2_000 },
  });
  await meshkit.getUser({ id: '42' });

  const request = { id: '42' };
  return [
    stockCase('grpc-js', port),
    {
      name: 'nice-grpc',
      call: () =>
        nice.GetUser(request, { deadline: new Date(Date.now() + 5_000), retry: true, retryMaxAttempts: 2 }),
      close: async () => niceChannel.close(),
    },
    { name: 'connect', call: () => connect.getUser(request), close: async () => {} },
    { name: 'meshkit-transport', call: () => transport(rawRequest, root), close: () => transport.close() },
    {
      name: 'meshkit',
      call: () => meshkit.getUser(request),
      close: async () => {
        await meshkit.$close();
        await registry.close();
      },
    },
  ];
}

/** A server child: its port, a full garbage collection on demand, and a way to stop it. */
export interface ServerChild {
  readonly port: number;
  /** Runs a full garbage collection in the server process and resolves once it is done. */
  collect(): Promise<void>;
  stop(): void;
}

export async function startServer(kind: string): Promise<ServerChild> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=@meshkit/source',
      '--expose-gc',
      new URL('./grpc-server-child.ts', import.meta.url).pathname,
      kind,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! });
  const waiting: { resolve(line: string): void; reject(error: Error): void }[] = [];
  lines.on('line', (line) => waiting.shift()?.resolve(line));
  child.once('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`grpc bench server exited with ${code}`));
  });
  const next = (): Promise<string> => new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  const port = Number(await next());
  return {
    port,
    collect: async () => {
      const done = next();
      child.stdin!.write('gc\n');
      await done;
    },
    stop: () => {
      lines.close();
      child.stdin!.end();
    },
  };
}

/** Latencies of one case, in ms, in a buffer allocated once, so recording allocates nothing per call. */
class Samples {
  values = new Float64Array(1 << 16);
  length = 0;
  push(ms: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = ms;
  }
  /** The recorded values, sorted (a copy). */
  sorted(): Float64Array {
    return this.values.slice(0, this.length).sort();
  }
}

/** Runs calls with `concurrency` in flight for about `ms`; returns the wall time in ms and each latency. */
async function slice(c: Case, concurrency: number, ms: number, latencies: Samples): Promise<number> {
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

/** Rows of a Williams design: each case runs first once and right after every other once per square. */
export function roundOrder<T>(items: readonly T[], r: number): T[] {
  const n = items.length;
  const first: number[] = [];
  for (let i = 0, lo = 0, hi = n - 1; i < n; i++) first.push(i % 2 === 0 ? lo++ : hi--);
  const row = first.map((k) => items[(k + r) % n]!);
  return n % 2 === 1 && Math.floor(r / n) % 2 === 1 ? row.reverse() : row;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

interface Row {
  table: 'client' | 'server';
  name: string;
  concurrency: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  ratioToGrpcJs: number;
  /** p99 relative to grpc-js's p99, both over every measured call. */
  p99RatioToGrpcJs: number;
  /**
   * The median over the measured rounds of each round's p99 relative to grpc-js's in the same round: the
   * cases of a round run back to back, so a stall of the shared machine in one slice moves one round's
   * ratio, not the figure.
   */
  p99RatioPerRound: number;
  /** Calls measured. */
  samples: number;
}

/**
 * Every case at each concurrency, in interleaved slices. Before every slice, warm-up ones included, a full
 * garbage collection runs in this process and in each server (`collect`): whatever the previous case
 * left behind is not collected in this one's time.
 */
async function measure(
  table: Row['table'],
  all: readonly Case[],
  collect: () => Promise<void>,
): Promise<Row[]> {
  const rows: Row[] = [];
  const gc = (globalThis as { gc?: () => void }).gc;
  for (const concurrency of concurrencies) {
    const timeMs = new Map<string, number>(all.map((c) => [c.name, 0]));
    const latencies = new Map<string, Samples>(all.map((c) => [c.name, new Samples()]));
    /** Per measured round, each case's p99 in that round. */
    const roundP99: Map<string, number>[] = [];
    const sink = new Samples();
    for (let r = 0; r < warmupRounds + measuredSquares * all.length; r++) {
      const p99s = new Map<string, number>();
      for (const c of roundOrder(all, r)) {
        sink.length = 0;
        gc?.();
        await collect();
        await new Promise((resolve) => setImmediate(resolve));
        const ms = await slice(c, concurrency, sliceMs, sink);
        if (r < warmupRounds) continue;
        timeMs.set(c.name, timeMs.get(c.name)! + ms);
        const into = latencies.get(c.name)!;
        for (let i = 0; i < sink.length; i++) into.push(sink.values[i]!);
        p99s.set(c.name, percentile(sink.sorted(), 99));
      }
      if (r >= warmupRounds) roundP99.push(p99s);
    }
    const sorted = new Map(all.map((c) => [c.name, latencies.get(c.name)!.sorted()]));
    const perSec = (name: string): number => (sorted.get(name)!.length / timeMs.get(name)!) * 1000;
    const p99 = (name: string): number => percentile(sorted.get(name)!, 99);
    const base = all[0]!.name;
    for (const c of all) {
      const own = sorted.get(c.name)!;
      rows.push({
        table,
        name: c.name,
        concurrency,
        reqPerSec: Math.round(perSec(c.name)),
        p50Ms: round3(percentile(own, 50)),
        p99Ms: round3(p99(c.name)),
        ratioToGrpcJs: Math.round((perSec(c.name) / perSec(base)) * 100) / 100,
        p99RatioToGrpcJs: Math.round((p99(c.name) / p99(base)) * 100) / 100,
        p99RatioPerRound:
          Math.round(median(roundP99.map((round) => round.get(c.name)! / round.get(base)!)) * 100) / 100,
        samples: own.length,
      });
    }
  }
  return rows;
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const rows: Row[] = [];
  const meshkitServer = await startServer('meshkit');
  const clients = await clientCases(meshkitServer.port);
  try {
    rows.push(...(await measure('client', clients, () => meshkitServer.collect())));
  } finally {
    for (const c of clients) await c.close();
    meshkitServer.stop();
  }
  const servers = await Promise.all(
    serverKinds.map(async (kind) => ({ kind, ...(await startServer(kind)) })),
  );
  const serverCases = servers.map((s) => stockCase(s.kind, s.port));
  try {
    rows.push(
      ...(await measure('server', serverCases, async () => {
        for (const s of servers) await s.collect();
      })),
    );
  } finally {
    for (const c of serverCases) await c.close();
    for (const s of servers) s.stop();
  }
  if (json) {
    for (const row of rows) console.log(JSON.stringify(row));
    return;
  }
  console.log(
    `grpc: unary GetUser against a server in another process, Node ${process.version}; ` +
      `${measuredSquares} squares of interleaved ${sliceMs} ms slices per case`,
  );
  for (const table of ['client', 'server'] as const) {
    for (const concurrency of concurrencies) {
      console.log('');
      console.log(
        table === 'client'
          ? `clients against the meshkit server, ${concurrency} in flight`
          : `servers, driven by the grpc-js client, ${concurrency} in flight`,
      );
      console.log(
        `${table.padEnd(20)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}` +
          `${'x grpc-js'.padStart(11)}${'p99 x'.padStart(8)}${'p99 x/round'.padStart(13)}`,
      );
      for (const row of rows.filter((r) => r.table === table && r.concurrency === concurrency)) {
        console.log(
          `${row.name.padEnd(20)}${String(row.reqPerSec).padStart(10)}${row.p50Ms.toFixed(3).padStart(10)}` +
            `${row.p99Ms.toFixed(3).padStart(10)}${row.ratioToGrpcJs.toFixed(2).padStart(11)}` +
            `${row.p99RatioToGrpcJs.toFixed(2).padStart(8)}${row.p99RatioPerRound.toFixed(2).padStart(13)}`,
        );
      }
    }
  }
}
