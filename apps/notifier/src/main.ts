/**
 * Runs the notifier:
 *
 *   node --conditions=@meshkit/source apps/notifier/src/main.ts
 *
 * Environment: `PORT` (default 8081), `HOST` (default 0.0.0.0), `MESH_DATA_DIR` (embedded registry,
 * broker and store, default `.meshkit`), `ADVERTISED_ADDRESS` (the address registered for callers, e.g.
 * the pod IP; default 127.0.0.1 when listening on all interfaces), `DATABASE_URL` (record in PostgreSQL
 * instead of SQLite), `AMQP_URL` (RabbitMQ) or `KAFKA_BROKERS` (comma-separated `host:port`, topic
 * `user-events`) instead of the embedded broker, `ETCD_URL` (etcd for discovery), `SHUTDOWN_GRACE_MS`
 * (default 1000), `SHUTDOWN_DRAIN_TIMEOUT_MS` (default 10000), `NOTIFIER_STOP_TIMEOUT_MS` (default 10000).
 * SIGTERM and SIGINT drain the REST service, let events being handled finish, and exit 0.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { embeddedRegistry, etcdRegistry, type Registry } from '@meshkit/discovery';
import type { Broker } from '@meshkit/messaging';
import { amqpBroker } from '@meshkit/messaging-amqp';
import { kafkaBroker } from '@meshkit/messaging-kafka';
import { sqliteBroker } from '@meshkit/messaging-sqlite';
import { startNotifier } from './notifier.ts';
import { pgNotificationStore } from './pg-store.ts';

const env = process.env;
const set = (value: string | undefined): value is string => value !== undefined && value !== '';
const dataDir = env.MESH_DATA_DIR ?? '.meshkit';
mkdirSync(dataDir, { recursive: true });

const registry: Registry = set(env.ETCD_URL)
  ? etcdRegistry({ url: env.ETCD_URL })
  : embeddedRegistry({ path: join(dataDir, 'registry.db') });
let broker: Broker;
let topics: string[] | undefined;
if (set(env.AMQP_URL)) broker = await amqpBroker({ url: env.AMQP_URL });
else if (set(env.KAFKA_BROKERS)) {
  broker = kafkaBroker({ brokers: env.KAFKA_BROKERS.split(',').map((b) => b.trim()) });
  topics = ['user-events'];
} else broker = sqliteBroker({ path: join(dataDir, 'events.db') });
const store = set(env.DATABASE_URL)
  ? await pgNotificationStore({ connectionString: env.DATABASE_URL })
  : undefined;

const host = env.HOST ?? '0.0.0.0';
const notifier = await startNotifier({
  broker,
  registry,
  dataDir,
  ...(store === undefined ? {} : { store }),
  ...(topics === undefined ? {} : { topics }),
  port: Number(env.PORT ?? 8081),
  host,
  ...(set(env.ADVERTISED_ADDRESS)
    ? { advertisedAddress: env.ADVERTISED_ADDRESS }
    : host === '0.0.0.0'
      ? { advertisedAddress: '127.0.0.1' }
      : {}),
  ...(env.NOTIFIER_STOP_TIMEOUT_MS === undefined
    ? {}
    : { stopTimeoutMs: Number(env.NOTIFIER_STOP_TIMEOUT_MS) }),
  onRecorded: (n) => console.log(`recorded ${n.type} for user ${n.userId} (event ${n.eventId})`),
  shutdown: {
    ...(env.SHUTDOWN_GRACE_MS === undefined ? {} : { graceMs: Number(env.SHUTDOWN_GRACE_MS) }),
    ...(env.SHUTDOWN_DRAIN_TIMEOUT_MS === undefined
      ? {}
      : { drainTimeoutMs: Number(env.SHUTDOWN_DRAIN_TIMEOUT_MS) }),
    exit: (code) => process.exit(code),
    onClose: async () => {
      await broker.close();
      await registry.close();
    },
  },
});
console.log(`notifier listening on ${notifier.url} (store: ${notifier.store.kind})`);
