/**
 * Runs the user service from the environment (see the README): embedded registry and broker in
 * `DATA_DIR`, SQLite storage there too unless `DATABASE_URL` points at PostgreSQL.
 *
 *   node --conditions=@meshkit/source apps/user-service/src/main.ts
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { embeddedRegistry } from '@meshkit/discovery';
import { sqliteIdempotencyStore } from '@meshkit/http';
import { sqliteBroker } from '@meshkit/messaging-sqlite';
import { pageTokenKeyFor, readConfig } from './config.ts';
import { pgIdempotencyStore } from './pg-idempotency.ts';
import { startUserService } from './service.ts';
import { openPostgresUserStore } from './store-postgres.ts';
import { openSqliteUserStore } from './store-sqlite.ts';

const config = readConfig();
mkdirSync(config.dataDir, { recursive: true });
const registry = embeddedRegistry({ path: join(config.dataDir, 'registry.db') });
const broker = sqliteBroker({ path: join(config.dataDir, 'events.db') });

async function storage() {
  if (config.databaseUrl === undefined) {
    const store = openSqliteUserStore({ path: join(config.dataDir, 'users.db') });
    return { store, idempotency: sqliteIdempotencyStore({ path: join(config.dataDir, 'idempotency.db') }) };
  }
  const store = await openPostgresUserStore({
    connectionString: config.databaseUrl,
    ...(config.databaseSchema === undefined ? {} : { schema: config.databaseSchema }),
  });
  return { store, idempotency: pgIdempotencyStore(store.pool) };
}

const service = await startUserService({
  ...(await storage()),
  broker,
  registry,
  pageTokenKey: pageTokenKeyFor(config),
  version: config.version,
  host: config.host,
  ...(config.advertiseAddress === undefined ? {} : { advertiseAddress: config.advertiseAddress }),
  httpPort: config.httpPort,
  grpcPort: config.grpcPort,
  ...(config.eventsTopic === undefined ? {} : { eventsTopic: config.eventsTopic }),
});
console.log(`user-service ${config.version}: REST ${service.http.url}, gRPC ${service.grpc.address}`);

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) process.exit(1); // a second signal: stop waiting
  stopping = true;
  console.log(`user-service: ${signal}, shutting down`);
  service
    .close()
    .then(() => Promise.all([broker.close(), registry.close()]))
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
