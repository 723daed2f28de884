import { type CallContext, type Clock, checkString, systemClock } from '@meshkit/core';
import type { Inbox, Message } from '@meshkit/messaging';
import type { Pool, PoolClient } from 'pg';
import { checkIdentifier } from './identifier.ts';

/** Options of {@link pgInbox}. */
export interface PgInboxOptions {
  /** The consumer's name (usually its group): ids are recorded per consumer. */
  readonly consumer: string;
  /** Table name. Defaults to `meshkit_inbox`. */
  readonly table?: string;
  /** Clock for the recorded time. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** A PostgreSQL inbox; `setup()` creates its table. */
export interface PgInbox extends Inbox<PoolClient> {
  setup(): Promise<void>;
}

/**
 * The idempotent consumer on PostgreSQL: each message runs in its own transaction on a pool client,
 * which first inserts the event id (`ON CONFLICT DO NOTHING`; a concurrent duplicate waits on the
 * unique index and then finds it), then runs the effect with that client, then commits.
 *
 * @example
 * ```ts
 * import { consume } from '@meshkit/messaging';
 * import { sqliteBroker } from '@meshkit/messaging-sqlite';
 * import pg from 'pg';
 * const pool = new pg.Pool({ connectionString: process.env.MESHKIT_PG_URL });
 * const inbox = pgInbox(pool, { consumer: 'notifications' });
 * await inbox.setup();
 * await consume(sqliteBroker({ path: 'var/events.db' }), {
 *   group: 'notifications',
 *   topics: ['user.created'],
 *   handler: inbox.handler<{ id: string }>(async (msg, client) => {
 *     await client.query('INSERT INTO welcome_mails (user_id) VALUES ($1)', [msg.data.id]);
 *   }),
 * });
 * ```
 */
export function pgInbox(pool: Pool, options: PgInboxOptions): PgInbox {
  const consumer = checkString('pgInbox.consumer', options.consumer);
  const table = checkIdentifier('pgInbox.table', options.table ?? 'meshkit_inbox');
  const clock = options.clock ?? systemClock;
  return {
    async setup() {
      await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (
        consumer TEXT NOT NULL,
        id TEXT NOT NULL,
        processed_at BIGINT NOT NULL,
        PRIMARY KEY (consumer, id)
      )`);
    },
    handler<T>(effect: (msg: Message<T>, tx: PoolClient, ctx: CallContext) => unknown) {
      return async (msg: Message<T>, ctx: CallContext) => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const recorded = await client.query(
            `INSERT INTO ${table} (consumer, id, processed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
            [consumer, msg.id, clock.now()],
          );
          if (recorded.rowCount === 0) {
            // Seen before: the first delivery's effects are already committed.
            await client.query('ROLLBACK');
            return;
          }
          await effect(msg, client, ctx);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        } finally {
          client.release();
        }
      };
    },
    async prune(olderThanMs) {
      const result = await pool.query(`DELETE FROM ${table} WHERE consumer = $1 AND processed_at < $2`, [
        consumer,
        clock.now() - olderThanMs,
      ]);
      return result.rowCount ?? 0;
    },
  };
}
