import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { type Clock, InvalidArgumentError, systemClock } from '@meshkit/core';
import { type OutboxEntry, type OutboxEvent, type OutboxStore, outboxRow } from '@meshkit/messaging';

/** Options of {@link sqliteOutbox}. */
export interface SqliteOutboxOptions {
  /** Table name; the lease table is `<table>_lease`. Defaults to `meshkit_outbox`. */
  readonly table?: string;
  /** Clock for the events' `time`. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** Writes events inside a transaction opened by {@link SqliteOutbox.transaction}. */
export interface OutboxWriter {
  /** Adds an event to the current transaction; returns its id. */
  add(event: OutboxEvent): string;
}

/**
 * The transactional outbox on a `node:sqlite` database: the service's own database, so business rows
 * and events commit together. Also the relay's {@link OutboxStore} (give the relay its own connection
 * to the same file).
 */
export class SqliteOutbox implements OutboxStore {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #listeners = new Set<() => void>();
  readonly #insert: StatementSync;
  readonly #acquire: StatementSync;
  readonly #release: StatementSync;
  readonly #pending: StatementSync;
  readonly #sent: StatementSync;
  readonly #failed: StatementSync;
  readonly #purge: StatementSync;

  constructor(db: DatabaseSync, options: SqliteOutboxOptions = {}) {
    const table = checkIdentifier('sqliteOutbox.table', options.table ?? 'meshkit_outbox');
    this.#db = db;
    this.#clock = options.clock ?? systemClock;
    db.exec(`
      CREATE TABLE IF NOT EXISTS ${table} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        topic TEXT NOT NULL,
        key TEXT,
        type TEXT,
        subject TEXT,
        time TEXT NOT NULL,
        headers TEXT NOT NULL,
        data TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        sent_at INTEGER,
        failed INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS ${table}_pending ON ${table} (seq) WHERE sent_at IS NULL AND failed = 0;
      CREATE TABLE IF NOT EXISTS ${table}_lease (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until INTEGER NOT NULL);
    `);
    this.#insert = db.prepare(
      `INSERT INTO ${table} (id, topic, key, type, subject, time, headers, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // Free, expired, or ours: take it. RETURNING tells whether the row is now ours.
    this.#acquire = db.prepare(
      `INSERT INTO ${table}_lease (name, owner, until) VALUES ('relay', ?1, ?3)
         ON CONFLICT (name) DO UPDATE SET owner = ?1, until = ?3 WHERE until <= ?2 OR owner = ?1
       RETURNING owner`,
    );
    this.#release = db.prepare(`DELETE FROM ${table}_lease WHERE name = 'relay' AND owner = ?`);
    this.#pending = db.prepare(
      `SELECT seq, id, topic, key, type, subject, time, headers, data, attempts FROM ${table}
        WHERE sent_at IS NULL AND failed = 0 ORDER BY seq LIMIT ?`,
    );
    this.#sent = db.prepare(`UPDATE ${table} SET sent_at = ? WHERE seq = ?`);
    this.#failed = db.prepare(`UPDATE ${table} SET attempts = ?, error = ?, failed = ? WHERE seq = ?`);
    this.#purge = db.prepare(`DELETE FROM ${table} WHERE sent_at IS NOT NULL AND sent_at < ?`);
  }

  /** Adds an event; call it inside the transaction that writes the business rows. Returns its id. */
  add(event: OutboxEvent): string {
    const row = outboxRow(event, this.#clock.now());
    this.#insert.run(...row);
    return row[0];
  }

  /**
   * Runs `work` in `BEGIN IMMEDIATE ... COMMIT` (rolled back if it throws) and then tells listeners
   * (a relay's `nudge`) that events may be waiting.
   *
   * @example
   * ```ts
   * import { DatabaseSync } from 'node:sqlite';
   * const db = new DatabaseSync('var/users.db');
   * const outbox = sqliteOutbox(db);
   * const insertUser = db.prepare('INSERT INTO users (id, name) VALUES (?, ?)');
   * const [id, name] = [crypto.randomUUID(), 'Ada'];
   * outbox.transaction((tx) => {
   *   insertUser.run(id, name);
   *   tx.add({ topic: 'user.created', key: id, data: { id, name } });
   * });
   * ```
   */
  transaction<R>(work: (tx: OutboxWriter) => R): R {
    this.#db.exec('BEGIN IMMEDIATE');
    let result: R;
    try {
      result = work({ add: (event) => this.add(event) });
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
    for (const listener of this.#listeners) listener();
    return result;
  }

  /** Calls `listener` after each committed {@link SqliteOutbox.transaction}; returns an unsubscribe. */
  onCommit(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Deletes rows sent more than `olderThanMs` ago; returns how many. */
  purgeSent(olderThanMs: number): number {
    return Number(this.#purge.run(this.#clock.now() - olderThanMs).changes);
  }

  async acquireLease(owner: string, now: number, until: number): Promise<boolean> {
    const row = this.#acquire.get(owner, now, until) as { owner: string } | undefined;
    return row?.owner === owner;
  }

  async releaseLease(owner: string): Promise<void> {
    this.#release.run(owner);
  }

  async pending(limit: number): Promise<OutboxEntry[]> {
    const rows = this.#pending.all(limit) as unknown as {
      seq: number;
      id: string;
      topic: string;
      key: string | null;
      type: string | null;
      subject: string | null;
      time: string;
      headers: string;
      data: string;
      attempts: number;
    }[];
    return rows.map((r) => ({
      seq: String(r.seq),
      id: r.id,
      topic: r.topic,
      key: r.key ?? undefined,
      type: r.type ?? undefined,
      subject: r.subject ?? undefined,
      time: r.time,
      headers: JSON.parse(r.headers) as Record<string, string>,
      data: JSON.parse(r.data) as unknown,
      attempts: r.attempts,
    }));
  }

  async markSent(seqs: readonly string[], at: number): Promise<void> {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const seq of seqs) this.#sent.run(at, Number(seq));
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  async markFailed(seq: string, attempts: number, error: string, giveUp: boolean): Promise<void> {
    this.#failed.run(attempts, error, giveUp ? 1 : 0, Number(seq));
  }
}

/**
 * Creates a SQLite outbox on `db` (creating its tables).
 *
 * @example
 * ```ts
 * import { DatabaseSync } from 'node:sqlite';
 * import { outboxRelay, publisher } from '@meshkit/messaging';
 * const file = 'var/users.db';
 * const broker = sqliteBroker({ path: 'var/events.db' });
 * const outbox = sqliteOutbox(new DatabaseSync(file));
 * // the relay on its own connection, so relaying never waits behind the service's writes
 * const relay = outboxRelay(sqliteOutbox(new DatabaseSync(file)), publisher(broker, { source: '/users' }));
 * outbox.onCommit(() => relay.nudge());
 * relay.start();
 * ```
 */
export function sqliteOutbox(db: DatabaseSync, options?: SqliteOutboxOptions): SqliteOutbox {
  return new SqliteOutbox(db, options);
}

/** Checks a table name is a plain SQL identifier (it is interpolated into statements). */
export function checkIdentifier(field: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(value)) {
    throw new InvalidArgumentError(field, 'must be a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*)', value);
  }
  return value;
}
