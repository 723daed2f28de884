import { type Clock, systemClock } from '@meshkit/core';
import { type OutboxEntry, type OutboxEvent, type OutboxStore, outboxRow } from '@meshkit/messaging';
import type { Pool, PoolClient } from 'pg';
import { checkIdentifier } from './identifier.ts';

/** Options of {@link pgOutbox}. */
export interface PgOutboxOptions {
  /** Table name; the lease table is `<table>_lease`. Defaults to `meshkit_outbox`. */
  readonly table?: string;
  /** Clock for the events' `time`. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** Something that runs a query: a pool client inside the caller's transaction. */
export interface Queryable {
  query: PoolClient['query'];
}

interface PendingRow {
  seq: string;
  id: string;
  topic: string;
  key: string | null;
  type: string | null;
  subject: string | null;
  time: string;
  headers: Record<string, string>;
  data: unknown;
  attempts: number;
}

/**
 * The transactional outbox on PostgreSQL. Rows carry the writing transaction's id, and the relay reads
 * only rows of transactions older than every transaction still running
 * (`pg_snapshot_xmin(pg_current_snapshot())`): a sequence number is taken at insert, not at commit, so
 * without this a slow transaction's earlier row could be overtaken by a later one and published out of
 * order. One active relay per database through a lease row.
 */
export class PgOutbox implements OutboxStore {
  readonly #pool: Pool;
  readonly #table: string;
  readonly #clock: Clock;
  readonly #listeners = new Set<() => void>();

  constructor(pool: Pool, options: PgOutboxOptions = {}) {
    this.#pool = pool;
    this.#table = checkIdentifier('pgOutbox.table', options.table ?? 'meshkit_outbox');
    this.#clock = options.clock ?? systemClock;
  }

  /** Creates the tables if missing. */
  async setup(): Promise<void> {
    const t = this.#table;
    await this.#pool.query(`
      CREATE TABLE IF NOT EXISTS ${t} (
        seq BIGSERIAL PRIMARY KEY,
        txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
        id TEXT NOT NULL UNIQUE,
        topic TEXT NOT NULL,
        key TEXT,
        type TEXT,
        subject TEXT,
        time TEXT NOT NULL,
        headers JSONB NOT NULL,
        data JSONB NOT NULL,
        attempts INT NOT NULL DEFAULT 0,
        error TEXT,
        sent_at BIGINT,
        failed BOOLEAN NOT NULL DEFAULT false
      );
      CREATE INDEX IF NOT EXISTS ${t}_pending ON ${t} (seq) WHERE sent_at IS NULL AND NOT failed;
      CREATE TABLE IF NOT EXISTS ${t}_lease (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until BIGINT NOT NULL);
    `);
  }

  /** Adds an event through `client`, inside the transaction writing the business rows. Returns its id. */
  async add(client: Queryable, event: OutboxEvent): Promise<string> {
    const row = outboxRow(event, this.#clock.now());
    await client.query(
      `INSERT INTO ${this.#table} (id, topic, key, type, subject, time, headers, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [...row],
    );
    return row[0];
  }

  /**
   * Runs `work` in a transaction on a pool client (rolled back if it throws), then tells listeners
   * (a relay's `nudge`) that events may be waiting.
   *
   * @example
   * ```ts
   * import pg from 'pg';
   * const outbox = pgOutbox(new pg.Pool({ connectionString: process.env.MESHKIT_PG_URL }));
   * const [id, name] = [crypto.randomUUID(), 'Ada'];
   * await outbox.transaction(async (client, tx) => {
   *   await client.query('INSERT INTO users (id, name) VALUES ($1, $2)', [id, name]);
   *   await tx.add({ topic: 'user.created', key: id, data: { id, name } });
   * });
   * ```
   */
  async transaction<R>(
    work: (client: PoolClient, tx: { add(event: OutboxEvent): Promise<string> }) => Promise<R>,
  ): Promise<R> {
    const client = await this.#pool.connect();
    let result: R;
    try {
      await client.query('BEGIN');
      result = await work(client, { add: (event) => this.add(client, event) });
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
    for (const listener of this.#listeners) listener();
    return result;
  }

  /** Calls `listener` after each committed {@link PgOutbox.transaction}; returns an unsubscribe. */
  onCommit(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async acquireLease(owner: string, now: number, until: number): Promise<boolean> {
    const t = this.#table;
    const result = await this.#pool.query<{ owner: string }>(
      `INSERT INTO ${t}_lease (name, owner, until) VALUES ('relay', $1, $3)
       ON CONFLICT (name) DO UPDATE SET owner = $1, until = $3
         WHERE ${t}_lease.until <= $2 OR ${t}_lease.owner = $1
       RETURNING owner`,
      [owner, now, until],
    );
    return result.rows[0]?.owner === owner;
  }

  async releaseLease(owner: string): Promise<void> {
    await this.#pool.query(`DELETE FROM ${this.#table}_lease WHERE name = 'relay' AND owner = $1`, [owner]);
  }

  async pending(limit: number): Promise<OutboxEntry[]> {
    const result = await this.#pool.query<PendingRow>(
      `SELECT seq::text AS seq, id, topic, key, type, subject, time, headers, data, attempts FROM ${this.#table}
        WHERE sent_at IS NULL AND NOT failed
          AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
        ORDER BY seq LIMIT $1`,
      [limit],
    );
    return result.rows.map((r) => ({
      seq: r.seq,
      id: r.id,
      topic: r.topic,
      key: r.key ?? undefined,
      type: r.type ?? undefined,
      subject: r.subject ?? undefined,
      time: r.time,
      headers: r.headers,
      data: r.data,
      attempts: r.attempts,
    }));
  }

  async markSent(seqs: readonly string[], at: number): Promise<void> {
    await this.#pool.query(`UPDATE ${this.#table} SET sent_at = $1 WHERE seq = ANY($2::bigint[])`, [
      at,
      seqs,
    ]);
  }

  async markFailed(seq: string, attempts: number, error: string, giveUp: boolean): Promise<void> {
    await this.#pool.query(
      `UPDATE ${this.#table} SET attempts = $1, error = $2, failed = $3 WHERE seq = $4`,
      [attempts, error, giveUp, seq],
    );
  }

  /** Deletes rows sent more than `olderThanMs` ago; resolves with how many. */
  async purgeSent(olderThanMs: number): Promise<number> {
    const result = await this.#pool.query(`DELETE FROM ${this.#table} WHERE sent_at < $1`, [
      this.#clock.now() - olderThanMs,
    ]);
    return result.rowCount ?? 0;
  }
}

/**
 * Creates a PostgreSQL outbox over a `pg` pool; call `setup()` once to create its tables.
 *
 * @example
 * ```ts
 * import { outboxRelay, publisher } from '@meshkit/messaging';
 * import { sqliteBroker } from '@meshkit/messaging-sqlite';
 * import pg from 'pg';
 * const broker = sqliteBroker({ path: 'var/events.db' });
 * const outbox = pgOutbox(new pg.Pool({ connectionString: process.env.MESHKIT_PG_URL }));
 * await outbox.setup();
 * const relay = outboxRelay(outbox, publisher(broker, { source: '/user-service' }));
 * outbox.onCommit(() => relay.nudge());
 * relay.start();
 * ```
 */
export function pgOutbox(pool: Pool, options?: PgOutboxOptions): PgOutbox {
  return new PgOutbox(pool, options);
}
