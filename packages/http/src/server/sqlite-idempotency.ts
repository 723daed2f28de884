import { checkString, openSqliteFile } from '@meshkit/core/internal';
import {
  type IdempotencyClaim,
  type IdempotencyStore,
  type IdempotencyStoreOptions,
  resolveStoreOptions,
  type StoredResponse,
} from './idempotency.ts';

/** Options of {@link sqliteIdempotencyStore}. */
export interface SqliteIdempotencyStoreOptions extends IdempotencyStoreOptions {
  /** The database file, shared by the instances on one host; `:memory:` for a private one. */
  readonly path: string;
}

interface Row {
  fingerprint: string;
  status: number | null;
  headers: string | null;
  body: Uint8Array | null;
}

/**
 * An idempotency store in a SQLite file (node:sqlite, WAL mode): every instance on one host shares it,
 * and it survives restarts. Claims are one `INSERT ... ON CONFLICT DO NOTHING`, so two processes never
 * both win a key.
 *
 * @example
 * ```ts
 * const store = sqliteIdempotencyStore({ path: '.meshkit/idempotency.db', ttlMs: 86_400_000 });
 * ```
 */
export function sqliteIdempotencyStore(options: SqliteIdempotencyStoreOptions): IdempotencyStore {
  const path = checkString('sqliteIdempotencyStore.path', options.path);
  const { ttlMs, inProgressTtlMs, clock } = resolveStoreOptions(options, 'sqliteIdempotencyStore');
  const db = openSqliteFile('sqliteIdempotencyStore.path', path, (db) =>
    db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA busy_timeout = 5000;
    CREATE TABLE IF NOT EXISTS meshkit_idempotency (
      key TEXT PRIMARY KEY,
      fingerprint TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      status INTEGER,
      headers TEXT,
      body BLOB
    );
    CREATE INDEX IF NOT EXISTS meshkit_idempotency_expiry ON meshkit_idempotency (expires_at);
  `),
  );
  const purge = db.prepare('DELETE FROM meshkit_idempotency WHERE expires_at <= ?');
  const insert = db.prepare(
    'INSERT INTO meshkit_idempotency (key, fingerprint, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING',
  );
  const select = db.prepare(
    'SELECT fingerprint, status, headers, body FROM meshkit_idempotency WHERE key = ?',
  );
  const store = db.prepare(
    'UPDATE meshkit_idempotency SET status = ?, headers = ?, body = ?, expires_at = ? WHERE key = ? AND fingerprint = ?',
  );
  const remove = db.prepare('DELETE FROM meshkit_idempotency WHERE key = ?');
  let closed = false;

  return {
    async claim(key, fingerprint): Promise<IdempotencyClaim> {
      const now = clock.now();
      purge.run(now);
      if (insert.run(key, fingerprint, now + inProgressTtlMs).changes === 1) return { kind: 'new' };
      const row = select.get(key) as Row | undefined;
      // Deleted between the two statements by another process: treat as a fresh claim attempt.
      if (row === undefined) {
        return insert.run(key, fingerprint, now + inProgressTtlMs).changes === 1
          ? { kind: 'new' }
          : { kind: 'in-progress' };
      }
      if (row.fingerprint !== fingerprint) return { kind: 'mismatch' };
      if (row.status === null) return { kind: 'in-progress' };
      const response: StoredResponse = {
        status: row.status,
        headers: JSON.parse(row.headers ?? '{}') as Record<string, string>,
        body: Buffer.from(row.body ?? new Uint8Array()),
      };
      return { kind: 'replay', response };
    },
    async complete(key, fingerprint, response) {
      store.run(
        response.status,
        JSON.stringify(response.headers),
        response.body,
        clock.now() + ttlMs,
        key,
        fingerprint,
      );
    },
    async release(key) {
      remove.run(key);
    },
    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
