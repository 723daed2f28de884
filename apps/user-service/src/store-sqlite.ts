import { DatabaseSync } from 'node:sqlite';
import { checkString } from '@meshkit/core/internal';
import { type SqliteOutbox, sqliteOutbox } from '@meshkit/messaging-sqlite';
import type { UserError } from './errors.ts';
import { migrateSqlite } from './migrations/sqlite.ts';
import { emailTakenError, type UserRow, type UserStore, userColumns, userOfRow } from './store.ts';
import type { User } from './user.ts';

/** Options of {@link openSqliteUserStore}. */
export interface SqliteUserStoreOptions {
  /** The database file (created when missing); `:memory:` for a private, throw-away one. */
  readonly path: string;
  /** How long a write waits for another process's lock, in ms. Defaults to 5,000. */
  readonly busyTimeoutMs?: number;
}

/** SQLite reports a unique index violation as `SQLITE_CONSTRAINT_UNIQUE` (2067). */
function emailTaken(error: unknown, email: string): UserError | undefined {
  const e = error as { errcode?: number; message?: string };
  if (e?.errcode === 2067 || /UNIQUE constraint failed: users\.email/.test(String(e?.message))) {
    return emailTakenError(email);
  }
  return undefined;
}

function open(path: string, busyTimeoutMs: number): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  if (path !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  return db;
}

/**
 * The user store on a SQLite file (`node:sqlite`, WAL): migrations applied on open, users and their
 * outbox events committed together with `BEGIN IMMEDIATE`, the relay reading the outbox on a second
 * connection. Several processes may share the file.
 *
 * @example
 * ```ts
 * const store = openSqliteUserStore({ path: 'var/users.db' });
 * ```
 */
export function openSqliteUserStore(options: SqliteUserStoreOptions): UserStore {
  const path = checkString('openSqliteUserStore.path', options.path);
  const busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
  const db = open(path, busyTimeoutMs);
  migrateSqlite(db);
  const outbox: SqliteOutbox = sqliteOutbox(db);
  // A private in-memory database has no second connection: the relay reads through the first.
  const relayDb = path === ':memory:' ? db : open(path, busyTimeoutMs);
  const relayOutbox = relayDb === db ? outbox : sqliteOutbox(relayDb);

  const insert = db.prepare(`INSERT INTO users (${userColumns}) VALUES (?, ?, ?, ?, ?, ?)`);
  const select = db.prepare(`SELECT ${userColumns} FROM users WHERE id = ?`);
  const firstPage = db.prepare(`SELECT ${userColumns} FROM users ORDER BY id LIMIT ?`);
  const nextPage = db.prepare(`SELECT ${userColumns} FROM users WHERE id > ? ORDER BY id LIMIT ?`);
  const change = db.prepare('UPDATE users SET email = ?, name = ?, status = ?, updated_at = ? WHERE id = ?');
  const remove = db.prepare('DELETE FROM users WHERE id = ?');
  const read = (id: string): User | undefined => {
    const row = select.get(id) as UserRow | undefined;
    return row === undefined ? undefined : userOfRow(row);
  };
  let closed = false;

  return {
    kind: 'sqlite',
    async insert({ user, event }) {
      try {
        outbox.transaction((tx) => {
          insert.run(user.id, user.email, user.name, user.status, user.createdAt, user.updatedAt);
          tx.add(event);
        });
      } catch (error) {
        throw emailTaken(error, user.email) ?? error;
      }
    },
    async get(id) {
      return read(id);
    },
    async list(afterId, limit) {
      const rows = (afterId === undefined
        ? firstPage.all(limit)
        : nextPage.all(afterId, limit)) as unknown as UserRow[];
      return rows.map(userOfRow);
    },
    async update(id, decide) {
      let email = '';
      try {
        return outbox.transaction((tx) => {
          const current = read(id);
          if (current === undefined) return undefined;
          const write = decide(current);
          if (write === undefined) return current;
          const { user } = write;
          email = user.email;
          change.run(user.email, user.name, user.status, user.updatedAt, id);
          tx.add(write.event);
          return user;
        });
      } catch (error) {
        throw emailTaken(error, email) ?? error;
      }
    },
    async remove(id, event) {
      return outbox.transaction((tx) => {
        const current = read(id);
        if (current === undefined) return undefined;
        remove.run(id);
        tx.add(event(current));
        return current;
      });
    },
    outbox: relayOutbox,
    onCommit: (listener) => outbox.onCommit(listener),
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (relayDb !== db) relayDb.close();
      db.close();
    },
  };
}
