import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { embeddedRegistry } from '@meshkit/discovery';
import { sqliteIdempotencyStore } from '@meshkit/http';
import type { Broker } from '@meshkit/messaging';
import { amqpBroker } from '@meshkit/messaging-amqp';
import { kafkaBroker } from '@meshkit/messaging-kafka';
import { type RunningUserService, startUserService } from '../service.ts';
import { openSqliteUserStore } from '../store-sqlite.ts';

/**
 * The seed's Python clients run against the user service on a real broker: RabbitMQ on the default vhost
 * `/` (the seed's pika snippets cannot choose another) and Kafka, on 127.0.0.1 where the snippets'
 * `localhost` defaults point. A missing broker or Python module fails the tests, never skips them.
 */
export const amqpUrl = process.env.MESHKIT_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const kafkaBootstrap = process.env.MESHKIT_KAFKA_BOOTSTRAP ?? '127.0.0.1:9092';
/** Debian's Python, where `apt-get install python3-requests python3-grpcio ...` puts the libraries. */
export const python = process.env.MESHKIT_PYTHON ?? '/usr/bin/python3';

const appDir = join(import.meta.dirname, '..', '..');
const interopDir = join(appDir, 'interop');
const protoDir = join(appDir, '..', '..', 'packages', 'grpc', 'proto', 'user');
const run = promisify(execFile);

/** A user service started for the seed's clients, with the broker it publishes to. */
export interface InteropService {
  readonly service: RunningUserService;
  readonly broker: Broker;
  /** The service's consumer group for its event streams. */
  readonly streamGroup: string;
  /** Stops the service, deletes its stream group, closes the broker and registry, removes the files. */
  close(): Promise<void>;
}

/**
 * Starts the user service on RabbitMQ (`user.*` on the `events` exchange) or Kafka (every event on
 * `user-events`, keyed by user id), with an embedded registry and SQLite storage in a temporary
 * directory, REST and gRPC on free ports. The only call of `startUserService` in these tests.
 */
export async function startInteropService(transport: 'amqp' | 'kafka'): Promise<InteropService> {
  const dir = mkdtempSync(join(tmpdir(), `user-service-interop-${transport}-`));
  const broker: Broker =
    transport === 'amqp'
      ? await amqpBroker({ url: amqpUrl, connectionName: 'user-service-interop' })
      : kafkaBroker({ brokers: [kafkaBootstrap], clientId: 'user-service-interop' });
  const registry = embeddedRegistry({ path: join(dir, 'registry.db') });
  const streamGroup = `user-service-interop.stream.${randomUUID().slice(0, 8)}`;
  const cleanup = async (): Promise<void> => {
    await broker.deleteGroup?.(streamGroup).catch(() => {});
    await broker.close();
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const service = await startUserService({
      store: openSqliteUserStore({ path: join(dir, 'users.db') }),
      idempotency: sqliteIdempotencyStore({ path: join(dir, 'idempotency.db') }),
      broker,
      registry,
      pageTokenKey: 'the interop test page-token key',
      ...(transport === 'kafka' ? { eventsTopic: 'user-events' } : {}),
      streamGroup,
      httpPort: 0,
      grpcPort: 0,
      deregisterGraceMs: 0,
      drainTimeoutMs: 2_000,
    });
    return {
      service,
      broker,
      streamGroup,
      close: async () => {
        await service.close();
        await cleanup();
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Runs the seed's Python clients through `interop/driver.py`. */
export interface SeedPython {
  /** Runs `driver.py command ...args` and parses the JSON line it ends with; rejects with its stderr. */
  run<T>(command: string, args: readonly string[], timeoutMs?: number): Promise<T>;
  /** Removes the generated stubs. */
  close(): void;
}

/**
 * Generates `user_service_pb2*.py` from the seed's proto with `grpc_tools.protoc` into a temporary
 * directory (nothing generated is kept) and returns a runner with it and `interop/` on `PYTHONPATH`.
 */
export async function seedPython(): Promise<SeedPython> {
  const stubs = mkdtempSync(join(tmpdir(), 'user-service-pystubs-'));
  await run(python, [
    '-m',
    'grpc_tools.protoc',
    `-I${protoDir}`,
    `--python_out=${stubs}`,
    `--grpc_python_out=${stubs}`,
    'user_service.proto',
  ]);
  const env = { ...process.env, PYTHONPATH: `${stubs}:${interopDir}`, PYTHONDONTWRITEBYTECODE: '1' };
  return {
    async run<T>(command: string, args: readonly string[], timeoutMs = 90_000): Promise<T> {
      const script = join(interopDir, 'driver.py');
      try {
        const { stdout } = await run(python, [script, command, ...args], { env, timeout: timeoutMs });
        const last = stdout.trimEnd().split('\n').at(-1) ?? '';
        return JSON.parse(last) as T;
      } catch (error) {
        const e = error as { stderr?: string; message: string };
        throw new Error(`driver.py ${command} failed: ${e.stderr?.trim() || e.message}`);
      }
    },
    close: () => rmSync(stubs, { recursive: true, force: true }),
  };
}

/** One request that went through a {@link lostAnswerProxy}. */
export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string | undefined;
  /** What the service answered. */
  readonly upstreamStatus: number;
  /** What the client was sent instead. */
  readonly sentStatus: number;
}

/** A {@link lostAnswerProxy} in front of a service. */
export interface LostAnswerProxy {
  readonly url: string;
  readonly requests: readonly ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * An HTTP proxy on 127.0.0.1 that forwards every request to `target`, but answers the first `POST` with
 * 503 after the service has handled it: the answer is lost on the way back, as behind a failing gateway.
 */
export async function lostAnswerProxy(target: string): Promise<LostAnswerProxy> {
  const requests: ProxiedRequest[] = [];
  let posts = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const upstream = httpRequest(
        new URL(req.url ?? '/', target),
        { method: req.method, headers: { ...req.headers, host: new URL(target).host } },
        (answer) => {
          const body: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => body.push(chunk));
          answer.on('end', () => {
            const lose = req.method === 'POST' && ++posts === 1;
            const sentStatus = lose ? 503 : (answer.statusCode ?? 502);
            requests.push({
              method: req.method ?? '',
              path: req.url ?? '',
              idempotencyKey: req.headers['idempotency-key'] as string | undefined,
              upstreamStatus: answer.statusCode ?? 0,
              sentStatus,
            });
            if (lose) res.writeHead(503, { 'content-type': 'text/plain' }).end('answer lost');
            else res.writeHead(sentStatus, answer.headers).end(Buffer.concat(body));
          });
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
