/**
 * Runs the notifier on the mesh its variables describe (`MESH_*`, `DATABASE_URL`: see the README):
 * consumes user events from `MESH_BROKER` (on Kafka the seed's topic `user-events`), records them in
 * PostgreSQL when `DATABASE_URL` is set, else in SQLite in `MESH_DATA_DIR`, and serves them (and
 * `GET /metrics`) as `notifier`, registered in `MESH_REGISTRY`. Its own variables: `EVENTS_TOPIC` (one
 * topic for every event instead of `user.*`), `NOTIFIER_STOP_TIMEOUT_MS` (default 10000),
 * `SHUTDOWN_GRACE_MS` (default 1000), `SHUTDOWN_DRAIN_TIMEOUT_MS` (default 10000). SIGTERM and SIGINT
 * drain the REST service, let events being handled finish, and exit 0.
 *
 *   node --conditions=@meshkit/source apps/notifier/src/main.ts
 */
import { announceReady, createMesh } from 'meshkit';
import { startNotifier } from './notifier.ts';
import { pgNotificationStore } from './pg-store.ts';

const env = process.env;
const number = (name: string): number | undefined => (env[name] ? Number(env[name]) : undefined);
const mesh = await createMesh({ env: { MESH_SERVICE: 'notifier', ...env } });
const { config } = mesh;
const metrics = mesh.telemetry.metrics?.registry;
const topic = env.EVENTS_TOPIC || (config.broker.kind === 'kafka' ? 'user-events' : undefined);
const stopTimeoutMs = number('NOTIFIER_STOP_TIMEOUT_MS');
const graceMs = number('SHUTDOWN_GRACE_MS');
const drainTimeoutMs = number('SHUTDOWN_DRAIN_TIMEOUT_MS');

const notifier = await startNotifier({
  broker: mesh.broker,
  registry: mesh.registry,
  ...(config.databaseUrl === undefined
    ? { dataDir: config.dataDir }
    : { store: await pgNotificationStore({ connectionString: config.databaseUrl }) }),
  ...(topic === undefined ? {} : { topics: [topic] }),
  port: config.httpPort,
  host: config.host,
  ...(config.address === undefined ? {} : { advertisedAddress: config.address }),
  ...(metrics === undefined ? {} : { metrics }),
  ...(stopTimeoutMs === undefined ? {} : { stopTimeoutMs }),
  onRecorded: (n) => console.log(`recorded ${n.type} for user ${n.userId} (event ${n.eventId})`),
  shutdown: {
    ...(graceMs === undefined ? {} : { graceMs }),
    ...(drainTimeoutMs === undefined ? {} : { drainTimeoutMs }),
    exit: (code) => process.exit(code),
    onClose: () => mesh.close(),
  },
});
console.log(`notifier listening on ${notifier.url} (store: ${notifier.store.kind})`);
announceReady({ http: notifier.url });
