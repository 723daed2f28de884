import type { DatabaseSync } from 'node:sqlite';

/**
 * The broker's tables. One append-only log (`messages`, topic as a column, a global sequence so a
 * group's position is one number); per-group cursors and bindings; `leases` holds every message a
 * group has claimed but not settled: owned (in flight, `until` = lease expiry) or unowned (waiting for
 * a retry or released, `until` = when it becomes visible). Leases hold only unsettled messages, so the
 * table stays small and carries few secondary indexes: every index costs each claim and each ack.
 *
 * Keys are serialised across the whole group: a message whose key already has a lease in the group is
 * leased as *blocked* (`until` = {@link blockedUntil}) and unblocked, in sequence order, when the lease
 * ahead of it is acked or dead-lettered. So at most one message per key is in flight in a group, and a
 * key's messages are handled in publish order even when retries or crashes intervene.
 */
export const schemaSql = `
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL,
  key TEXT,
  headers TEXT NOT NULL,
  body BLOB NOT NULL,
  published_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS groups (
  name TEXT PRIMARY KEY,
  cursor INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bindings (
  grp TEXT NOT NULL,
  pattern TEXT NOT NULL,
  PRIMARY KEY (grp, pattern)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
  grp TEXT NOT NULL,
  seq INTEGER NOT NULL,
  owner TEXT,
  until INTEGER NOT NULL,
  deliveries INTEGER NOT NULL,
  headers TEXT,
  key TEXT,
  PRIMARY KEY (grp, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS leases_due ON leases (grp, until);
DROP INDEX IF EXISTS leases_key;
CREATE INDEX IF NOT EXISTS leases_by_key ON leases (grp, key, until, seq) WHERE key IS NOT NULL;
DROP INDEX IF EXISTS leases_seq;
`;

/** The `until` of a blocked lease: later than any real time, never due. */
export const blockedUntil = 8_000_000_000_000_000;

/** Durability settings applied to every connection. */
export type Synchronous = 'FULL' | 'NORMAL' | 'EXTRA';

/** Opens the connection's settings and creates the tables (idempotent, safe under concurrency). */
export function prepareDatabase(db: DatabaseSync, synchronous: Synchronous, busyTimeoutMs: number): void {
  db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec(`PRAGMA synchronous = ${synchronous}`);
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(schemaSql);
    db.exec('COMMIT');
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}
