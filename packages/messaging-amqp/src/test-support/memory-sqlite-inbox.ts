import { DatabaseSync } from 'node:sqlite';
import type { Inbox } from '@meshkit/messaging';

/**
 * A minimal inbox on an in-memory `node:sqlite` database, for tests of this package (which may not
 * depend on `@meshkit/messaging-sqlite`): the event id and the handler's effects commit together, and a
 * redelivered id is skipped. `effects()` counts the rows the handler wrote.
 */
export function memorySqliteInbox(): { inbox: Inbox<DatabaseSync>; db: DatabaseSync; effects(): number } {
  const db = new DatabaseSync(':memory:');
  db.exec('CREATE TABLE inbox (id TEXT PRIMARY KEY); CREATE TABLE effects (id TEXT NOT NULL)');
  const record = db.prepare('INSERT INTO inbox (id) VALUES (?) ON CONFLICT DO NOTHING');
  // One connection has one transaction at a time: handlers running concurrently take turns.
  let turn: Promise<unknown> = Promise.resolve();
  const inbox: Inbox<DatabaseSync> = {
    handler: (effect) => (msg, ctx) => {
      const run = turn.then(async () => {
        db.exec('BEGIN');
        try {
          if (record.run(msg.id).changes === 1) await effect(msg, db, ctx);
          db.exec('COMMIT');
        } catch (error) {
          db.exec('ROLLBACK');
          throw error;
        }
      });
      turn = run.catch(() => {});
      return run;
    },
    prune: async () => 0,
  };
  const count = db.prepare('SELECT count(*) AS n FROM effects');
  return { inbox, db, effects: () => Number((count.get() as { n: number }).n) };
}
