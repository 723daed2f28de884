import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { blockedUntil } from './schema.ts';

/** Rows per multi-row message insert. */
export const insertChunk = 64;

/** Every statement the broker runs, prepared once per connection. */
export interface Statements {
  readonly insertMessage: StatementSync;
  /** Inserts {@link insertChunk} messages in one statement (per-statement overhead dominates small rows). */
  readonly insertMessages: StatementSync;
  readonly ensureGroup: StatementSync;
  readonly ensureGroupAt: StatementSync;
  readonly ensureGroupEarliest: StatementSync;
  readonly retainedTopics: StatementSync;
  readonly ensureBinding: StatementSync;
  readonly bindingsOf: StatementSync;
  readonly cursorOf: StatementSync;
  readonly setCursor: StatementSync;
  readonly dueLeases: StatementSync;
  readonly takeLease: StatementSync;
  readonly scan: StatementSync;
  readonly insertLeases: StatementSync;
  readonly insertKeyedLeases: StatementSync;
  readonly keyHolders: StatementSync;
  readonly unblock: StatementSync;
  readonly ackMany: StatementSync;
  readonly ackRange: StatementSync;
  readonly ack: StatementSync;
  readonly retry: StatementSync;
  readonly release: StatementSync;
  readonly releaseOwner: StatementSync;
  readonly renew: StatementSync;
  readonly nextDue: StatementSync;
  readonly retention: StatementSync;
  readonly dataVersion: StatementSync;
}

/** Prepares {@link Statements} on `db`. */
export function prepareStatements(db: DatabaseSync): Statements {
  const s = (sql: string): StatementSync => db.prepare(sql);
  const statements: Statements = {
    insertMessage: s('INSERT INTO messages (topic, key, headers, body, published_at) VALUES (?, ?, ?, ?, ?)'),
    insertMessages: s(
      `INSERT INTO messages (topic, key, headers, body, published_at) VALUES ${Array.from(
        { length: insertChunk },
        () => '(?, ?, ?, ?, ?)',
      ).join(', ')}`,
    ),
    // A new group starts after the newest message: it receives what is published from now on.
    ensureGroup: s(
      'INSERT OR IGNORE INTO groups (name, cursor) VALUES (?, (SELECT COALESCE(MAX(seq), 0) FROM messages))',
    ),
    ensureGroupAt: s('INSERT OR IGNORE INTO groups (name, cursor) VALUES (?, ?)'),
    // A new group started with `from: 'earliest'`: before the oldest message retained.
    ensureGroupEarliest: s(
      'INSERT OR IGNORE INTO groups (name, cursor) VALUES (?, (SELECT COALESCE(MIN(seq), 1) - 1 FROM messages))',
    ),
    retainedTopics: s('SELECT topic, COUNT(*) AS n FROM messages WHERE seq <= ? GROUP BY topic'),
    ensureBinding: s('INSERT OR IGNORE INTO bindings (grp, pattern) VALUES (?, ?)'),
    bindingsOf: s('SELECT pattern FROM bindings WHERE grp = ? ORDER BY pattern'),
    cursorOf: s('SELECT cursor FROM groups WHERE name = ?'),
    setCursor: s('UPDATE groups SET cursor = ? WHERE name = ?'),
    // Due leases: unowned ones whose time has come, expired ones of other members, and our own that we
    // gave up on (a settlement that could not be recorded must not pin its message forever).
    // Rows come back as arrays, in this column order.
    dueLeases: s(
      `SELECT l.seq AS seq, l.deliveries AS deliveries, l.headers AS override, m.topic AS topic, m.key AS key,
              m.headers AS headers, m.body AS body
         FROM leases l JOIN messages m ON m.seq = l.seq
        WHERE l.grp = ?1 AND l.until <= ?2
          AND (l.owner IS NULL OR l.owner <> ?3 OR l.seq IN (SELECT value FROM json_each(?4)))
        ORDER BY l.until, l.seq LIMIT ?5`,
    ),
    takeLease: s(
      'UPDATE leases SET owner = ?, until = ?, deliveries = deliveries + 1 WHERE grp = ? AND seq = ?',
    ),
    // Rows come back as arrays, in this column order.
    scan: s('SELECT seq, topic, key, headers, body FROM messages WHERE seq > ? ORDER BY seq LIMIT ?'),
    // One statement per claim: sequence numbers travel as a JSON array (unkeyed messages) or as
    // [seq, key] pairs (keyed ones). Blocked leases use the pairs form with no owner, `blockedUntil` and
    // no delivery yet.
    insertLeases: s(
      'INSERT INTO leases (grp, seq, owner, until, deliveries) SELECT ?1, value, ?2, ?3, ?4 FROM json_each(?5)',
    ),
    insertKeyedLeases: s(
      `INSERT INTO leases (grp, seq, key, owner, until, deliveries)
       SELECT ?1, value ->> 0, value ->> 1, ?2, ?3, ?4 FROM json_each(?5)`,
    ),
    keyHolders: s(
      `SELECT COUNT(*) AS n, COALESCE(SUM(owner = ?3 AND until < ${blockedUntil}), 0) AS mine FROM leases
        WHERE grp = ?1 AND key = ?2 AND key IS NOT NULL`,
    ),
    // The next blocked message of a key becomes due, unless another of its messages is still leased.
    unblock: s(
      `UPDATE leases SET until = ?3
        WHERE grp = ?1
          AND seq = (SELECT MIN(seq) FROM leases
                      WHERE grp = ?1 AND key = ?2 AND key IS NOT NULL AND until = ${blockedUntil})
          AND NOT EXISTS (SELECT 1 FROM leases
                           WHERE grp = ?1 AND key = ?2 AND key IS NOT NULL AND until < ${blockedUntil})`,
    ),
    ackMany: s('DELETE FROM leases WHERE grp = ? AND owner = ? AND seq IN (SELECT value FROM json_each(?))'),
    // For a run of consecutive sequence numbers that are all acked: a range walk of the primary key
    // costs about half of the JSON list's lookups (measured 0.4-0.55 vs 1.0-1.3 us per message).
    ackRange: s('DELETE FROM leases WHERE grp = ? AND owner = ? AND seq BETWEEN ? AND ?'),
    ack: s('DELETE FROM leases WHERE grp = ? AND seq = ? AND owner = ?'),
    retry: s(
      `UPDATE leases SET owner = NULL, until = ?, deliveries = 0, headers = ?
        WHERE grp = ? AND seq = ? AND owner = ?`,
    ),
    release: s(
      `UPDATE leases SET owner = NULL, until = ?, deliveries = MAX(deliveries - 1, 0)
        WHERE grp = ? AND seq = ? AND owner = ?`,
    ),
    releaseOwner: s(
      'UPDATE leases SET owner = NULL, until = ?, deliveries = MAX(deliveries - 1, 0) WHERE grp = ? AND owner = ?',
    ),
    // Not the leases given up on: those are left to expire.
    renew: s(
      'UPDATE leases SET until = ? WHERE grp = ? AND owner = ? AND seq NOT IN (SELECT value FROM json_each(?))',
    ),
    // The next lease another member may take: held by someone else (expiry) or by no one (retry due).
    nextDue: s(
      `SELECT MIN(until) AS due FROM leases
        WHERE grp = ?1 AND until < ${blockedUntil}
          AND (owner IS NULL OR owner <> ?2 OR seq IN (SELECT value FROM json_each(?3)))`,
    ),
    // Only messages every group has passed, older than any still leased (the lease table is small, so
    // its minimum is cheap), and older than the retention period: the oldest first, up to the first one
    // that is not old enough (the log is in publish order, so later ones are not either; with clocks of
    // several processes a little apart, a message may wait for the run after), and at most ?2 of them.
    // Every bound is a range of the sequence, so a run looks at no more than ?2 rows; filtering the
    // whole log by age instead scanned every message retained (70 ms per 200,000) on every run.
    retention: s(
      `WITH bound(upper) AS (
         SELECT MIN(COALESCE((SELECT MIN(cursor) FROM groups), (SELECT MAX(seq) FROM messages)),
                    COALESCE((SELECT MIN(seq) FROM leases), 9223372036854775807) - 1,
                    (SELECT MIN(seq) FROM messages) + ?2 - 1)
       ), young(first) AS (
         SELECT COALESCE((SELECT seq FROM messages
                           WHERE seq <= (SELECT upper FROM bound) AND published_at >= ?1
                           ORDER BY seq LIMIT 1), 9223372036854775807)
       )
       DELETE FROM messages WHERE seq < (SELECT MIN(upper + 1, first) FROM bound, young)`,
    ),
    dataVersion: s('PRAGMA data_version'),
  };
  // Read for every delivered message: arrays are cheaper to make than objects, and the broker builds
  // one object shape from them (see `Row` in sqlite-broker.ts).
  statements.scan.setReturnArrays(true);
  statements.dueLeases.setReturnArrays(true);
  return statements;
}
