import { InvalidArgumentError } from '@meshkit/core';
import { pgOutbox } from '@meshkit/messaging-postgres';
import pg from 'pg';
import type { UserError } from './errors.ts';
import { migratePostgres } from './migrations/postgres.ts';
import { emailTakenError, type UserRow, type UserStore, userColumns, userOfRow } from './store.ts';

/** Options of {@link openPostgresUserStore}. */
export interface PostgresUserStoreOptions {
  /** `postgres://user@host:5432/db`, e.g. from `DATABASE_URL`. */
  readonly connectionString: string;
  /**
   * The schema holding the service's tables (created when missing); defaults to the server's
   * `search_path` (usually `public`). Tests use a fresh one per run.
   */
  readonly schema?: string;
  /** Connections in the pool. Defaults to 10. */
  readonly poolSize?: number;
}

/** The PostgreSQL store, with its pool (for the idempotency store on the same database). */
export interface PostgresUserStore extends UserStore {
  readonly pool: pg.Pool;
}

/** PostgreSQL reports a unique violation as SQLSTATE 23505, naming the index. */
function emailTaken(error: unknown, email: string): UserError | undefined {
  const e = error as { code?: string; constraint?: string };
  if (e?.code === '23505' && e.constraint === 'users_email') {
    return emailTakenError(email);
  }
  return undefined;
}

/**
 * The user store on PostgreSQL: migrations applied on open under an advisory lock (instances starting
 * at once take turns), users and their outbox events committed in one transaction (`pgOutbox`), rows
 * locked with `SELECT ... FOR UPDATE` while a change is decided, e-mail uniqueness enforced by a unique
 * index (so concurrent creates with one address get exactly one winner).
 *
 * @example
 * ```ts
 * const store = await openPostgresUserStore({ connectionString: 'postgres://postgres@127.0.0.1:5432/users' });
 * ```
 */
export async function openPostgresUserStore(options: PostgresUserStoreOptions): Promise<PostgresUserStore> {
  const schema = options.schema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new InvalidArgumentError(
      'openPostgresUserStore.schema',
      'must be a lower-case SQL identifier',
      schema,
    );
  }
  const connection: pg.ClientConfig = {
    connectionString: options.connectionString,
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  };
  const pool = new pg.Pool({ ...connection, max: options.poolSize ?? 10 });
  // An idle client that loses its connection emits 'error' on the pool; the next query reconnects.
  pool.on('error', () => {});
  const outbox = pgOutbox(pool, { table: 'user_service_outbox' });
  try {
    await migratePostgres(connection, {
      ...(schema === undefined ? {} : { schema }),
      alsoLocked: () => outbox.setup(),
    });
  } catch (error) {
    await pool.end();
    throw error;
  }

  const select = async (client: pg.PoolClient | pg.Pool, id: string, lock: boolean) => {
    const result = await client.query<UserRow>(
      `SELECT ${userColumns} FROM users WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
      [id],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : userOfRow(row);
  };
  let closed = false;

  return {
    kind: 'postgres',
    pool,
    async insert({ user, event }) {
      try {
        await outbox.transaction(async (client, tx) => {
          await client.query(`INSERT INTO users (${userColumns}) VALUES ($1, $2, $3, $4, $5, $6)`, [
            user.id,
            user.email,
            user.name,
            user.status,
            user.createdAt,
            user.updatedAt,
          ]);
          await tx.add(event);
        });
      } catch (error) {
        throw emailTaken(error, user.email) ?? error;
      }
    },
    get: (id) => select(pool, id, false),
    async list(afterId, limit) {
      const result =
        afterId === undefined
          ? await pool.query<UserRow>(`SELECT ${userColumns} FROM users ORDER BY id LIMIT $1`, [limit])
          : await pool.query<UserRow>(`SELECT ${userColumns} FROM users WHERE id > $1 ORDER BY id LIMIT $2`, [
              afterId,
              limit,
            ]);
      return result.rows.map(userOfRow);
    },
    async update(id, decide) {
      let email = '';
      try {
        return await outbox.transaction(async (client, tx) => {
          const current = await select(client, id, true);
          if (current === undefined) return undefined;
          const write = decide(current);
          if (write === undefined) return current;
          const { user } = write;
          email = user.email;
          await client.query(
            'UPDATE users SET email = $1, name = $2, status = $3, updated_at = $4 WHERE id = $5',
            [user.email, user.name, user.status, user.updatedAt, id],
          );
          await tx.add(write.event);
          return user;
        });
      } catch (error) {
        throw emailTaken(error, email) ?? error;
      }
    },
    remove: (id, event) =>
      outbox.transaction(async (client, tx) => {
        const result = await client.query<UserRow>(
          `DELETE FROM users WHERE id = $1 RETURNING ${userColumns}`,
          [id],
        );
        const row = result.rows[0];
        if (row === undefined) return undefined;
        const user = userOfRow(row);
        await tx.add(event(user));
        return user;
      }),
    outbox,
    onCommit: (listener) => outbox.onCommit(listener),
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
