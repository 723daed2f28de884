import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
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
