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
 * warm-up. Reported: calls per second over the measured slices, p50/p99 latency over every measured
 * call, and throughput relative to the first case (raw grpc-js).
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

interface Case {
  readonly name: string;
  readonly call: () => Promise<unknown>;
  readonly close: () => Promise<unknown>;
}

const concurrencies = [16, 64];
const sliceMs = 300;
const warmupRounds = 2;
const measuredSquares = 3;
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

async function clientCases(port: number): Promise<Case[]> {
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

async function startServer(kind: string): Promise<{ port: number; stop: () => void }> {
  const child = spawn(
    process.execPath,
    ['--conditions=@meshkit/source', new URL('./grpc-server-child.ts', import.meta.url).pathname, kind],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`grpc bench server exited with ${code}`)));
  });
  return { port: Number(line), stop: () => child.stdin!.end() };
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

/** Rows of a Williams design: each case runs first once and right after every other once per square. */
function roundOrder<T>(items: readonly T[], r: number): T[] {
  const n = items.length;
  const first: number[] = [];
  for (let i = 0, lo = 0, hi = n - 1; i < n; i++) first.push(i % 2 === 0 ? lo++ : hi--);
  const row = first.map((k) => items[(k + r) % n]!);
  return n % 2 === 1 && Math.floor(r / n) % 2 === 1 ? row.reverse() : row;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Row {
  table: 'client' | 'server';
  name: string;
  concurrency: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  ratioToGrpcJs: number;
}

async function measure(table: Row['table'], all: readonly Case[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const concurrency of concurrencies) {
    const timeMs = new Map<string, number>(all.map((c) => [c.name, 0]));
    const counts = new Map<string, number>(all.map((c) => [c.name, 0]));
    const latencies = new Map<string, number[]>(all.map((c) => [c.name, []]));
    for (let r = 0; r < warmupRounds + measuredSquares * all.length; r++) {
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
    const base = perSec(all[0]!.name);
    for (const c of all) {
      const sorted = Float64Array.from(latencies.get(c.name)!).sort();
      rows.push({
        table,
        name: c.name,
        concurrency,
        reqPerSec: Math.round(perSec(c.name)),
        p50Ms: Math.round(percentile(sorted, 50) * 1000) / 1000,
        p99Ms: Math.round(percentile(sorted, 99) * 1000) / 1000,
        ratioToGrpcJs: Math.round((perSec(c.name) / base) * 100) / 100,
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
    rows.push(...(await measure('client', clients)));
  } finally {
    for (const c of clients) await c.close();
    meshkitServer.stop();
  }
  const servers = await Promise.all(
    serverKinds.map(async (kind) => ({ kind, ...(await startServer(kind)) })),
  );
  const serverCases = servers.map((s) => stockCase(s.kind, s.port));
  try {
    rows.push(...(await measure('server', serverCases)));
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
        `${table.padEnd(20)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'x grpc-js'.padStart(11)}`,
      );
      for (const row of rows.filter((r) => r.table === table && r.concurrency === concurrency)) {
        console.log(
          `${row.name.padEnd(20)}${String(row.reqPerSec).padStart(10)}${row.p50Ms.toFixed(3).padStart(10)}` +
            `${row.p99Ms.toFixed(3).padStart(10)}${row.ratioToGrpcJs.toFixed(2).padStart(11)}`,
        );
      }
    }
  }
}
