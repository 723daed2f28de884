import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { type CallContext, type Clock, checkString, systemClock } from '@meshkit/core';
import type { Inbox, Message } from '@meshkit/messaging';
import { checkIdentifier } from './sqlite-outbox.ts';

/** Options of {@link sqliteInbox}. */
export interface SqliteInboxOptions {
  /** The consumer's name (usually its group): ids are recorded per consumer. */
  readonly consumer: string;
  /** Table name. Defaults to `meshkit_inbox`. */
  readonly table?: string;
  /** Clock for the recorded time. Defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * The idempotent consumer on a `node:sqlite` database: the handler's effects and the event id commit
 * in one transaction. Transactions on one connection are serialised (SQLite has one writer anyway), so
 * an async effect is safe as long as nothing else uses this connection meanwhile; synchronous effects
 * are the fast path.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from 'node:sqlite';
 * import { consume } from '@meshkit/messaging';
 * const db = new DatabaseSync('var/notifier.db');
 * const broker = sqliteBroker({ path: 'var/events.db' });
 * const inbox = sqliteInbox(db, { consumer: 'notifications' });
 * await consume(broker, {
 *   group: 'notifications',
 *   topics: ['user.created'],
 *   handler: inbox.handler<{ id: string }>((msg, tx) => {
 *     tx.prepare('INSERT INTO welcome_mails (user_id) VALUES (?)').run(msg.data.id);
 *   }),
 * });
 * ```
 */
export function sqliteInbox(db: DatabaseSync, options: SqliteInboxOptions): Inbox<DatabaseSync> {
  const consumer = checkString('sqliteInbox.consumer', options.consumer);
  const table = checkIdentifier('sqliteInbox.table', options.table ?? 'meshkit_inbox');
  const clock = options.clock ?? systemClock;
  db.exec(`CREATE TABLE IF NOT EXISTS ${table} (
    consumer TEXT NOT NULL,
    id TEXT NOT NULL,
    processed_at INTEGER NOT NULL,
    PRIMARY KEY (consumer, id)
  ) WITHOUT ROWID`);
  const record: StatementSync = db.prepare(
    `INSERT OR IGNORE INTO ${table} (consumer, id, processed_at) VALUES (?, ?, ?)`,
  );
  const prune: StatementSync = db.prepare(`DELETE FROM ${table} WHERE consumer = ? AND processed_at < ?`);
  let tail: Promise<unknown> = Promise.resolve();

  return {
    handler<T>(effect: (msg: Message<T>, tx: DatabaseSync, ctx: CallContext) => unknown) {
      return (msg: Message<T>, ctx) => {
        const run = async (): Promise<void> => {
          db.exec('BEGIN IMMEDIATE');
          try {
            if (Number(record.run(consumer, msg.id, clock.now()).changes) === 0) {
              // Seen before: the first delivery's effects are already committed.
              db.exec('ROLLBACK');
              return;
            }
            await effect(msg, db, ctx);
            db.exec('COMMIT');
          } catch (error) {
            if (db.isTransaction) db.exec('ROLLBACK');
            throw error;
          }
        };
        const result = tail.then(run, run);
        tail = result.catch(() => {});
        return result;
      };
    },
    async prune(olderThanMs) {
      return Number(prune.run(consumer, clock.now() - olderThanMs).changes);
    },
  };
}
