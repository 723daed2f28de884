import { type Clock, systemClock } from '@meshkit/core';
import { pgInbox } from '@meshkit/messaging-postgres';
import pg from 'pg';
import {
  checkTable,
  fromRow,
  type NotificationRow,
  type NotificationStore,
  notificationColumns,
  whereOf,
} from './store.ts';

/** Options of {@link pgNotificationStore}. */
export interface PgNotificationStoreOptions {
  /** A PostgreSQL URL, e.g. `postgres://notifier@db:5432/notifier` (`DATABASE_URL`). */
  readonly connectionString: string;
  /** Table name. Defaults to `notifications`; its inbox is `<table>_inbox`. */
  readonly table?: string;
  /** The inbox's group. Defaults to `notifications`. */
  readonly consumer?: string;
  /** Pool size. Defaults to 10. */
  readonly maxConnections?: number;
  readonly clock?: Clock;
}

/**
 * The store on PostgreSQL (when `DATABASE_URL` is set): each event runs in its own transaction on a
 * pool client, which records the event id (the inbox) and inserts the notification. Creates its
 * tables if missing.
 */
export async function pgNotificationStore(
  options: PgNotificationStoreOptions,
): Promise<NotificationStore<pg.PoolClient>> {
  const table = checkTable('pgNotificationStore.table', options.table ?? 'notifications');
  const pool = new pg.Pool({ connectionString: options.connectionString, max: options.maxConnections ?? 10 });
  // An idle client that loses its server emits 'error' on the pool; the next query reports it instead.
  pool.on('error', () => {});
  const clock = options.clock ?? systemClock;
  const inbox = pgInbox(pool, {
    consumer: options.consumer ?? 'notifications',
    table: `${table}_inbox`,
    clock,
  });
  try {
    await inbox.setup();
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (
      seq BIGSERIAL PRIMARY KEY,
      event_id TEXT NOT NULL UNIQUE,
      user_id TEXT NOT NULL,
      type TEXT NOT NULL,
      email TEXT NOT NULL,
      message TEXT NOT NULL,
      occurred_at TEXT NOT NULL,
      recorded_at BIGINT NOT NULL
    )`);
    await pool.query(`CREATE INDEX IF NOT EXISTS ${table}_by_user ON ${table} (user_id, seq)`);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return {
    kind: 'postgres',
    inbox,
    record: (client, n) =>
      client.query(
        `INSERT INTO ${table} (event_id, user_id, type, email, message, occurred_at, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [n.eventId, n.userId, n.type, n.email, n.message, n.occurredAt, Date.parse(n.recordedAt)],
      ),
    async list({ limit, ...filter }) {
      const where = whereOf(filter, (n) => `$${n}`);
      const result = await pool.query<NotificationRow>(
        `SELECT ${notificationColumns} FROM ${table}${where.sql} ORDER BY seq DESC LIMIT $${where.values.length + 1}`,
        [...where.values, limit],
      );
      return result.rows.map(fromRow);
    },
    async count(filter) {
      const where = whereOf(filter, (n) => `$${n}`);
      const result = await pool.query<{ n: string }>(
        `SELECT COUNT(*) AS n FROM ${table}${where.sql}`,
        where.values,
      );
      return Number(result.rows[0]?.n ?? 0);
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    close: () => pool.end(),
  };
}
