import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { type Clock, InvalidArgumentError, systemClock } from '@meshkit/core';
import { sqliteInbox } from '@meshkit/messaging-sqlite';
import {
  checkTable,
  fromRow,
  type NotificationRow,
  type NotificationStore,
  notificationColumns,
  whereOf,
} from './store.ts';

/** Options of {@link sqliteNotificationStore}. */
export interface SqliteNotificationStoreOptions {
  /** The database file (created if missing). */
  readonly path: string;
  /** Table name. Defaults to `notifications`; its inbox is `<table>_inbox`. */
  readonly table?: string;
  /**
   * How long a write waits for another connection's transaction, ms. Defaults to 0: node:sqlite waits
   * by blocking the event loop, so a locked database fails at once and the consumer retries the event
   * with backoff instead.
   */
  readonly busyTimeoutMs?: number;
  /** The inbox's group. Defaults to `notifications`. */
  readonly consumer?: string;
  readonly clock?: Clock;
}

/** The default store: a SQLite file (WAL), the notifications and the inbox in one database. */
export function sqliteNotificationStore(
  options: SqliteNotificationStoreOptions,
): NotificationStore<DatabaseSync> {
  const table = checkTable('sqliteNotificationStore.table', options.table ?? 'notifications');
  const busyTimeoutMs = options.busyTimeoutMs ?? 0;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new InvalidArgumentError(
      'sqliteNotificationStore.busyTimeoutMs',
      'must be an integer >= 0',
      busyTimeoutMs,
    );
  }
  const clock = options.clock ?? systemClock;
  const db = new DatabaseSync(options.path, { timeout: busyTimeoutMs });
  db.exec('PRAGMA journal_mode = WAL');
  db.exec(`CREATE TABLE IF NOT EXISTS ${table} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    email TEXT NOT NULL,
    message TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
  )`);
  db.exec(`CREATE INDEX IF NOT EXISTS ${table}_by_user ON ${table} (user_id, seq)`);
  const inbox = sqliteInbox(db, {
    consumer: options.consumer ?? 'notifications',
    table: `${table}_inbox`,
    clock,
  });
  const insert = db.prepare(
    `INSERT INTO ${table} (event_id, user_id, type, email, message, occurred_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const statements = new Map<string, StatementSync>();
  /** One prepared statement per query shape (at most four per kind). */
  const prepared = (sql: string): StatementSync => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  return {
    kind: 'sqlite',
    inbox,
    // The inbox's transaction is this very connection, so the prepared statement runs inside it.
    record(_tx, n) {
      insert.run(n.eventId, n.userId, n.type, n.email, n.message, n.occurredAt, Date.parse(n.recordedAt));
    },
    async list({ limit, ...filter }) {
      const where = whereOf(filter, () => '?');
      const rows = prepared(
        `SELECT ${notificationColumns} FROM ${table}${where.sql} ORDER BY seq DESC LIMIT ?`,
      ).all(...where.values, limit) as unknown as NotificationRow[];
      return rows.map(fromRow);
    },
    async count(filter) {
      const where = whereOf(filter, () => '?');
      const row = prepared(`SELECT COUNT(*) AS n FROM ${table}${where.sql}`).get(...where.values) as {
        n: number;
      };
      return Number(row.n);
    },
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      if (db.isOpen) db.close();
    },
  };
}
