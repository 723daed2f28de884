import pg from 'pg';
import { checkSequence, type Migration } from './migration.ts';

/** The PostgreSQL schema, in order. */
export const postgresMigrations: readonly Migration[] = checkSequence([
  {
    version: 1,
    name: 'users',
    sql: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE', 'SUSPENDED')),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE UNIQUE INDEX users_email ON users (email);
    `,
  },
  {
    version: 2,
    name: 'idempotency keys',
    sql: `
      CREATE TABLE idempotency_keys (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        status INT,
        headers JSONB,
        body BYTEA
      );
      CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
    `,
  },
]);

/** The advisory lock every instance takes to migrate: `hashtext('user-service migrations')`. */
const lockSql = "SELECT pg_advisory_lock(hashtext('user-service migrations'))";
const unlockSql = "SELECT pg_advisory_unlock(hashtext('user-service migrations'))";

/**
 * Applies the migrations the database has not seen, on a connection of its own, under a session advisory lock so that instances
 * starting at once on one database take turns: the first applies, the others find them recorded.
 * `alsoLocked` runs under the same lock (e.g. the outbox's own `CREATE TABLE IF NOT EXISTS`, which two
 * sessions cannot run at once safely). `schema`, when given, is created first and must be the pool's
 * `search_path`. Resolves with the versions it applied.
 */
export async function migratePostgres(
  connection: pg.ClientConfig,
  options: { schema?: string; alsoLocked?: () => Promise<void>; migrations?: readonly Migration[] } = {},
): Promise<number[]> {
  const migrations = options.migrations ?? postgresMigrations;
  // A connection of its own, outside the service's pool: `alsoLocked` may need every pooled one.
  const client = new pg.Client(connection);
  client.on('error', () => {});
  await client.connect();
  const applied: number[] = [];
  try {
    await client.query(lockSql);
    try {
      if (options.schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
      await client.query(
        'CREATE TABLE IF NOT EXISTS user_service_migrations (version INT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      );
      const done = new Set(
        (await client.query<{ version: number }>('SELECT version FROM user_service_migrations')).rows.map(
          (r) => r.version,
        ),
      );
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query(
            'INSERT INTO user_service_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
            [migration.version, migration.name, Date.now()],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        }
        applied.push(migration.version);
      }
      await options.alsoLocked?.();
    } finally {
      await client.query(unlockSql);
    }
  } finally {
    await client.end();
  }
  return applied;
}
