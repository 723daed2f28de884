import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  type Inbox,
  type OutboxRelay,
  type OutboxRelayOptions,
  outboxRelay,
  type Publisher,
} from '@meshkit/messaging';
import type { PgInbox, PgOutbox } from '@meshkit/messaging-postgres';
import { type SqliteOutbox, sqliteInbox, sqliteOutbox } from '@meshkit/messaging-sqlite';
import type { Pool } from 'pg';
import type { MeshConfig } from './config.ts';

/**
 * The database a service writes its state and its events with: PostgreSQL when `DATABASE_URL` is set,
 * else the SQLite file `<dataDir>/<MESH_SERVICE or "app">.db`.
 */
export type MeshDatabase =
  | { readonly kind: 'postgres'; readonly pool: Pool }
  | { readonly kind: 'sqlite'; readonly db: DatabaseSync; readonly path: string };

/** A transactional outbox on the mesh's database, with a relay publishing it on the mesh's broker. */
export type MeshOutbox =
  | { readonly kind: 'postgres'; readonly store: PgOutbox; readonly pool: Pool; readonly relay: OutboxRelay }
  | {
      readonly kind: 'sqlite';
      readonly store: SqliteOutbox;
      readonly db: DatabaseSync;
      readonly relay: OutboxRelay;
    };

/** An idempotent inbox on the mesh's database (wrap a handler with `inbox.handler(effect)`). */
export type MeshInbox =
  | { readonly kind: 'postgres'; readonly inbox: PgInbox; readonly pool: Pool }
  | { readonly kind: 'sqlite'; readonly inbox: Inbox<DatabaseSync>; readonly db: DatabaseSync };

/** Options of `mesh.outbox()`. */
export interface MeshOutboxOptions {
  /** The outbox table. Defaults to `meshkit_outbox`. */
  readonly table?: string;
  /** The relay's batch size, poll interval, lease and attempts (see `outboxRelay()`). */
  readonly relay?: Omit<OutboxRelayOptions, 'clock'>;
}

/** The stores of one mesh: its database, opened on first use, and the relays it runs. */
export class MeshStores {
  readonly #config: MeshConfig;
  #database: Promise<MeshDatabase> | undefined;
  readonly #closers: (() => Promise<void> | void)[] = [];
  readonly #relays = new Set<OutboxRelay>();

  constructor(config: MeshConfig) {
    this.#config = config;
  }

  /** The database, opened (and checked with one query, for PostgreSQL) on the first call. */
  database(): Promise<MeshDatabase> {
    this.#database ??= this.#open();
    return this.#database;
  }

  async #open(): Promise<MeshDatabase> {
    const url = this.#config.databaseUrl;
    if (url !== undefined) {
      const { default: pg } = await import('pg');
      const pool = new pg.Pool({ connectionString: url });
      pool.on('error', () => {}); // an idle client's lost connection; the next query reconnects
      this.#closers.push(() => pool.end());
      await pool.query('SELECT 1');
      return { kind: 'postgres', pool };
    }
    const path = resolve(this.#config.dataDir, `${this.#config.name ?? 'app'}.db`);
    mkdirSync(dirname(path), { recursive: true });
    const db = new DatabaseSync(path);
    db.exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL');
    this.#closers.push(() => db.close());
    return { kind: 'sqlite', db, path };
  }

  /** An outbox on the database and a started relay to `events`; stopped when the mesh closes. */
  async outbox(events: Publisher, options: MeshOutboxOptions = {}): Promise<MeshOutbox> {
    const database = await this.database();
    const table = options.table === undefined ? {} : { table: options.table };
    if (database.kind === 'postgres') {
      const { pgOutbox } = await import('@meshkit/messaging-postgres');
      const store = pgOutbox(database.pool, table);
      await store.setup();
      const relay = this.#relay(store, events, options.relay);
      store.onCommit(() => relay.nudge());
      return { kind: 'postgres', store, pool: database.pool, relay };
    }
    const store = sqliteOutbox(database.db, table);
    // The relay reads through a connection of its own, as the SQLite outbox asks.
    const relayDb = new DatabaseSync(database.path);
    relayDb.exec('PRAGMA busy_timeout = 5000');
    this.#closers.push(() => relayDb.close());
    const relay = this.#relay(sqliteOutbox(relayDb, table), events, options.relay);
    store.onCommit(() => relay.nudge());
    return { kind: 'sqlite', store, db: database.db, relay };
  }

  /** An inbox for `consumer` on the database. */
  async inbox(consumer: string, options: { readonly table?: string } = {}): Promise<MeshInbox> {
    const database = await this.database();
    const table = options.table === undefined ? {} : { table: options.table };
    if (database.kind === 'postgres') {
      const { pgInbox } = await import('@meshkit/messaging-postgres');
      const inbox = pgInbox(database.pool, { consumer, ...table });
      await inbox.setup();
      return { kind: 'postgres', inbox, pool: database.pool };
    }
    return { kind: 'sqlite', inbox: sqliteInbox(database.db, { consumer, ...table }), db: database.db };
  }

  #relay(
    store: Parameters<typeof outboxRelay>[0],
    events: Publisher,
    options: Omit<OutboxRelayOptions, 'clock'> = {},
  ): OutboxRelay {
    const relay = outboxRelay(store, events, options);
    this.#relays.add(relay);
    relay.start();
    return relay;
  }

  /** Stops the relays (their last round finishes), then closes the database. */
  async stopRelays(): Promise<void> {
    await Promise.all([...this.#relays].map((r) => r.stop()));
  }

  async close(): Promise<void> {
    for (const close of this.#closers.splice(0).reverse()) await close();
  }
}
