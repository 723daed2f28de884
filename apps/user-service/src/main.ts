/**
 * Runs the user service on the mesh its variables describe (`MESH_*`, `DATABASE_URL`: see the README):
 * REST and gRPC registered in `MESH_REGISTRY`, events through the outbox to `MESH_BROKER`, users in
 * PostgreSQL when `DATABASE_URL` is set, else SQLite in `MESH_DATA_DIR`; `GET /metrics` on the REST port.
 *
 *   node --conditions=@meshkit/source apps/user-service/src/main.ts
 */
import { join } from 'node:path';
import { sqliteIdempotencyStore } from '@meshkit/http';
import { announceReady, createMesh } from 'meshkit';
import { pageTokenKeyFor, readConfig } from './config.ts';
import { pgIdempotencyStore } from './pg-idempotency.ts';
import { startUserService } from './service.ts';
import { openPostgresUserStore } from './store-postgres.ts';
import { openSqliteUserStore } from './store-sqlite.ts';

const config = readConfig();
const mesh = await createMesh({ env: { MESH_SERVICE: 'user-service', MESH_VERSION: 'v1', ...process.env } });
const { dataDir, databaseUrl } = mesh.config;

async function storage() {
  if (databaseUrl === undefined) {
    const store = openSqliteUserStore({ path: join(dataDir, 'users.db') });
    return { store, idempotency: sqliteIdempotencyStore({ path: join(dataDir, 'idempotency.db') }) };
  }
  const store = await openPostgresUserStore({
    connectionString: databaseUrl,
    ...(config.databaseSchema === undefined ? {} : { schema: config.databaseSchema }),
  });
  return { store, idempotency: pgIdempotencyStore(store.pool) };
}

const service = await startUserService({
  ...(await storage()),
  ...meshParts(),
  pageTokenKey: pageTokenKeyFor({ pageTokenKey: config.pageTokenKey, dataDir }),
  ...(config.eventsTopic === undefined ? {} : { eventsTopic: config.eventsTopic }),
});
console.log(`user-service ${mesh.config.version}: REST ${service.http.url}, gRPC ${service.grpc.address}`);
announceReady({ http: service.http.url, grpc: service.grpc.address });

/** What the mesh gives the service: registry, broker, metrics, where to listen and what to register. */
function meshParts() {
  const c = mesh.config;
  const metrics = mesh.telemetry.metrics?.registry;
  return {
    registry: mesh.registry,
    broker: mesh.broker,
    host: c.host,
    ...(c.address === undefined ? {} : { advertiseAddress: c.address }),
    httpPort: c.httpPort,
    grpcPort: c.grpcPort,
    ...(c.version === undefined ? {} : { version: c.version }),
    ...(metrics === undefined ? {} : { metrics }),
  };
}

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) process.exit(1); // a second signal: stop waiting
  stopping = true;
  console.log(`user-service: ${signal}, shutting down`);
  service
    .close()
    .then(() => mesh.close())
    .then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('user-service: shutdown failed', error);
        process.exit(1);
      },
    );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
