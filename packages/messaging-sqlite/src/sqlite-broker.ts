import { randomUUID } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import {
  type Clock,
  ErrorCode,
  InvalidArgumentError,
  MeshError,
  systemClock,
  type TimerHandle,
} from '@meshkit/core';
import { checkInteger, checkString, openSqliteFile } from '@meshkit/core/internal';
import {
  type Broker,
  type BrokerRecord,
  checkGroupStart,
  checkRecord,
  compilePatterns,
  messagingChannels,
  type PublishResult,
  type SubscribeOptions,
  type Subscription,
} from '@meshkit/messaging';
import { Claims } from './broker/claims.ts';
import type { Connection, Member } from './broker/connection.ts';
import { listPending, type PendingMessage } from './broker/pending.ts';
import { Settlements } from './broker/settlements.ts';
import { WakeUps } from './broker/wake-ups.ts';
import { CommitSignal, wakePath } from './commit-watcher.ts';
import { GroupCommit } from './group-commit.ts';
import { prepareDatabase, type Synchronous } from './schema.ts';
import { insertChunk, prepareStatements } from './statements.ts';
import { WalSync } from './wal-sync.ts';

export type { PendingMessage };

/** Options of {@link sqliteBroker}. */
export interface SqliteBrokerOptions {
  /** The database file; every process using the same file shares the broker. */
  readonly path: string;
  /** SQLite `synchronous` mode of publishes. Defaults to `FULL`: nothing is confirmed before it is on disk. */
  readonly synchronous?: Synchronous;
  /**
   * Whether settlements (ack, retry, dead-letter, release) are on disk before their promises resolve.
   * Defaults to `true`: they commit without blocking on the fsync, and resolve once a sync of the WAL,
   * run off the event loop, has finished (so other members may see a settlement a moment before it is
   * durable). With `false` they resolve at the commit: a power cut may then forget recent acks, so
   * those messages are delivered again (at-least-once still holds; nothing is lost). Claims and lease
   * renewals always commit with `NORMAL`, for the same reason.
   */
  readonly durableSettlements?: boolean;
  /** How long a member holds a delivery before it is presumed dead and the message redelivered, ms. Defaults to 30,000. */
  readonly visibilityTimeoutMs?: number;
  /**
   * How often an idle connection checks for commits made by other processes when no change to the WAL
   * file was signalled, ms. Defaults to 25. A change starts checks every millisecond for 10 ms, so an idle
   * consumer in another process wakes within a few milliseconds; without file-change events the
   * interval drops to 2 ms.
   */
  readonly pollIntervalMs?: number;
  /** How long a message every group has settled stays in the log, ms. Defaults to 3,600,000 (1 h). */
  readonly retentionMs?: number;
  /** How often retention runs, ms. Defaults to 10,000. */
  readonly retentionIntervalMs?: number;
  /** Largest body accepted, bytes; larger records are refused. Defaults to 1 MiB. */
  readonly maxMessageBytes?: number;
  /** How long a write waits for another process's transaction, ms. Defaults to 5,000. */
  readonly busyTimeoutMs?: number;
  /** Clock for leases, retry delays and timers. Defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * One connection to the embedded durable broker. Open one per process (or several: they behave like
 * separate processes). See {@link sqliteBroker}.
 */
export class SqliteBroker implements Broker {
  readonly name = 'sqlite';
  readonly path: string;
  readonly #db: DatabaseSync;
  /** What the parts below share: statements, the group commit, the clock, the members. */
  readonly #conn: Connection;
  readonly #claims: Claims;
  readonly #wakeUps: WakeUps;
  readonly #retentionMs: number;
  readonly #maxMessageBytes: number;
  readonly #durableSettlements: boolean;
  readonly #synchronous: Synchronous;
  readonly #walSync: WalSync;
  readonly #signal: CommitSignal;
  #renewTimer: TimerHandle | undefined;
  #retentionTimer: TimerHandle | undefined;
  /** Keeps the process alive while a subscription is active, as an open socket to a broker would. */
  #keepAlive: NodeJS.Timeout | undefined;

  /** @internal use {@link sqliteBroker}. */
  constructor(options: SqliteBrokerOptions) {
    this.path = checkString('sqliteBroker.path', options.path);
    const synchronous = options.synchronous ?? 'FULL';
    this.#synchronous = synchronous;
    if (!['FULL', 'NORMAL', 'EXTRA'].includes(synchronous)) {
      throw new InvalidArgumentError(
        'sqliteBroker.synchronous',
        'must be FULL, NORMAL or EXTRA',
        synchronous,
      );
    }
    const visibilityMs = checkInteger(
      'sqliteBroker.visibilityTimeoutMs',
      options.visibilityTimeoutMs ?? 30_000,
      3,
    );
    const pollMs = checkInteger('sqliteBroker.pollIntervalMs', options.pollIntervalMs ?? 25, 1);
    this.#retentionMs = checkInteger('sqliteBroker.retentionMs', options.retentionMs ?? 3_600_000, 0);
    const retentionIntervalMs = checkInteger(
      'sqliteBroker.retentionIntervalMs',
      options.retentionIntervalMs ?? 10_000,
      1,
    );
    this.#maxMessageBytes = checkInteger(
      'sqliteBroker.maxMessageBytes',
      options.maxMessageBytes ?? 1 << 20,
      0,
    );
    this.#durableSettlements = options.durableSettlements ?? true;
    if (typeof this.#durableSettlements !== 'boolean') {
      throw new InvalidArgumentError(
        'sqliteBroker.durableSettlements',
        'must be a boolean',
        this.#durableSettlements,
      );
    }
    const busyTimeoutMs = checkInteger('sqliteBroker.busyTimeoutMs', options.busyTimeoutMs ?? 5_000, 0);
    const clock = options.clock ?? systemClock;
    // Creates a missing folder; a path that cannot be used is reported with the path and the cause.
    this.#db = openSqliteFile('sqliteBroker.path', this.path, (db) =>
      prepareDatabase(db, synchronous, busyTimeoutMs),
    );
    let sql: ReturnType<typeof prepareStatements>;
    try {
      sql = prepareStatements(this.#db);
    } catch (error) {
      this.#db.close();
      throw error;
    }
    this.#db.exec('PRAGMA busy_timeout = 0');
    // The schema transaction above created the WAL file. With synchronous=NORMAL chosen for publishes
    // there is nothing to sync settlements for.
    this.#walSync = new WalSync(`${this.path}-wal`);
    const walSync = synchronous !== 'NORMAL' && this.#walSync.open() ? this.#walSync : undefined;
    this.#signal = new CommitSignal(wakePath(this.path));
    this.#signal.open();
    const writer = new GroupCommit(this.#db, busyTimeoutMs, synchronous, 'NORMAL', {
      walSync,
      onCommit: () => {
        if (!conn.signalPending) return;
        conn.signalPending = false;
        this.#signal.notify();
      },
    });
    const conn: Connection = {
      path: this.path,
      sql,
      writer,
      clock,
      visibilityMs,
      members: new Set<Member>(),
      closed: false,
      signalPending: false,
    };
    this.#conn = conn;
    this.#wakeUps = new WakeUps(conn, (member) => this.#claims.fetch(member), pollMs);
    const settlements = new Settlements(
      conn,
      this.#durableSettlements ? 'durable-after' : 'relaxed',
      this.#wakeUps,
      (member) => this.#claims.fetch(member),
    );
    this.#claims = new Claims(conn, this.#wakeUps, settlements);
    const retention = (): void => {
      this.#retentionTimer = clock.setTimeout(retention, retentionIntervalMs);
      void this.runRetention().catch(() => {});
    };
    this.#retentionTimer = clock.setTimeout(retention, retentionIntervalMs);
  }

  async publish(records: readonly BrokerRecord[]): Promise<PublishResult[]> {
    if (this.#conn.closed) {
      const error = new MeshError(ErrorCode.CLOSED, 'broker connection is closed', { rejected: true });
      return records.map(() => ({ ok: false, error }));
    }
    const results: (PublishResult | undefined)[] = records.map((record) => {
      const problem = checkRecord(record, this.#maxMessageBytes);
      return problem === undefined
        ? undefined
        : { ok: false, error: new MeshError(ErrorCode.BROKER_REJECTED, problem, { rejected: true }) };
    });
    if (results.every((r) => r !== undefined)) return results as PublishResult[];
    const now = this.#conn.clock.now();
    const sql = this.#conn.sql;
    // A failed commit rejects this promise: every record of the batch is then unconfirmed.
    await this.#conn.writer.submit(() => {
      const todo: number[] = [];
      for (let i = 0; i < records.length; i++) if (results[i] === undefined) todo.push(i);
      let next = 0;
      const params: unknown[] = [];
      while (todo.length - next >= insertChunk) {
        params.length = 0;
        for (let j = next; j < next + insertChunk; j++) {
          const r = records[todo[j]!]!;
          params.push(r.topic, r.key ?? null, JSON.stringify(r.headers), r.body, now);
        }
        // Rows of one statement get consecutive sequence numbers (one writer, AUTOINCREMENT).
        const last = Number(sql.insertMessages.run(...(params as never[])).lastInsertRowid);
        for (let j = 0; j < insertChunk; j++) {
          results[todo[next + j]!] = { ok: true, position: String(last - insertChunk + 1 + j) };
        }
        next += insertChunk;
      }
      for (; next < todo.length; next++) {
        const r = records[todo[next]!]!;
        const row = sql.insertMessage.run(r.topic, r.key ?? null, JSON.stringify(r.headers), r.body, now);
        results[todo[next]!] = { ok: true, position: String(row.lastInsertRowid) };
      }
      this.#conn.signalPending = true;
    }, 'durable');
    this.#wakeUps.wakeLocal(undefined);
    return results as PublishResult[];
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.#conn.closed) throw new MeshError(ErrorCode.CLOSED, 'broker connection is closed');
    const group = checkString('subscribe.group', options.group);
    checkInteger('subscribe.prefetch', options.prefetch, 1);
    const from = checkGroupStart(options.from, 'sqlite');
    const matches = compilePatterns(options.patterns);
    let skipped = 0;
    await this.#conn.writer.submit(() => {
      const sql = this.#conn.sql;
      const created = (from === 'earliest' ? sql.ensureGroupEarliest : sql.ensureGroup).run(group);
      for (const p of options.patterns) sql.ensureBinding.run(group, p);
      // A new group starting now leaves retained messages behind: count those it would have matched.
      if (created.changes > 0 && from === 'now' && messagingChannels.groupSkippedRetained.hasSubscribers) {
        const cursor = (sql.cursorOf.get(group) as { cursor: number }).cursor;
        for (const row of sql.retainedTopics.all(cursor) as { topic: string; n: number }[]) {
          if (matches(row.topic)) skipped += row.n;
        }
      }
    });
    if (skipped > 0) {
      messagingChannels.groupSkippedRetained.publish({
        broker: this.name,
        group,
        patterns: options.patterns,
        skipped,
      });
    }
    const member: Member = {
      id: randomUUID(),
      group,
      options,
      holding: new Set(),
      forgotten: new Set(),
      active: true,
      fetching: false,
      maybeMore: true,
      wakes: 0,
      dueTimer: undefined,
    };
    this.#conn.members.add(member);
    this.#keepAlive ??= setInterval(() => {}, 1 << 30);
    this.#startTimers();
    this.#claims.fetch(member);
    return {
      stop: async () => {
        member.active = false;
        this.#wakeUps.clearDue(member);
      },
      close: async () => {
        member.active = false;
        this.#wakeUps.clearDue(member);
        if (!this.#conn.members.delete(member) || this.#conn.closed) return;
        if (this.#conn.members.size === 0) this.#unref();
        await this.#conn.writer.submit(() => {
          this.#conn.sql.releaseOwner.run(this.#conn.clock.now(), group, member.id);
          this.#conn.signalPending = true;
        });
        this.#wakeUps.wakeLocal(group);
      },
    };
  }

  /**
   * Counters of this connection: transactions committed, the writes they carried, and the syncs of the
   * WAL that made settlements durable after their commit.
   */
  stats(): { commits: number; operations: number; members: number; walSyncs: number } {
    return {
      commits: this.#conn.writer.commits,
      operations: this.#conn.writer.operations,
      members: this.#conn.members.size,
      walSyncs: this.#walSync.syncs,
    };
  }

  /**
   * The durability in force: the journal mode read back from SQLite, and the `synchronous` mode each
   * kind of commit uses (publishes, settlements, claims and renewals). Settlements reported as `FULL`
   * are as durable as a `FULL` commit when their promise resolves; they get there by a relaxed commit
   * and a sync of the WAL off the event loop (see `durableSettlements`).
   */
  durability(): {
    journalMode: string;
    publishes: Synchronous;
    settlements: Synchronous;
    claims: Synchronous;
  } {
    const journal = this.#db.prepare('PRAGMA journal_mode').get() as { journal_mode: string };
    return {
      journalMode: journal.journal_mode,
      publishes: this.#synchronous,
      settlements: this.#durableSettlements ? this.#synchronous : 'NORMAL',
      claims: 'NORMAL',
    };
  }

  /**
   * The messages `group` has not settled, oldest first, without claiming them: those leased (in flight
   * at a member, or waiting for a retry, a release or their key) and those past its cursor that its
   * bindings match. For tools: reading a dead-letter group (`dead-letter.<group>`) lists its dead
   * letters. An unknown group has none.
   *
   * @param options.limit the most messages returned. Defaults to 1,000.
   */
  pending(group: string, options: { readonly limit?: number } = {}): PendingMessage[] {
    checkString('pending.group', group);
    const limit = checkInteger('pending.limit', options.limit ?? 1_000, 1);
    if (this.#conn.closed) throw new MeshError(ErrorCode.CLOSED, 'the broker is closed');
    return listPending(this.#db, group, limit, this.#conn.clock);
  }

  /** Removes a group: its cursor, bindings and leases (what it held becomes deletable by retention). */
  async deleteGroup(group: string): Promise<void> {
    checkString('deleteGroup.group', group);
    if (this.#conn.closed) throw new MeshError(ErrorCode.CLOSED, 'the broker is closed');
    await this.#conn.writer.submit(() => {
      for (const table of ['leases', 'bindings'])
        this.#db.prepare(`DELETE FROM ${table} WHERE grp = ?`).run(group);
      this.#db.prepare('DELETE FROM groups WHERE name = ?').run(group);
    });
  }

  /** Deletes messages past retention (normally run on a timer); resolves with how many went. */
  async runRetention(limit = 10_000): Promise<number> {
    const cutoff = this.#conn.clock.now() - this.#retentionMs;
    return this.#conn.writer.submit(() => Number(this.#conn.sql.retention.run(cutoff, limit).changes));
  }

  async close(): Promise<void> {
    if (this.#conn.closed) return;
    this.#conn.closed = true;
    this.#stopTimers();
    const now = this.#conn.clock.now();
    for (const member of this.#conn.members) {
      member.active = false;
      // Released now so another member takes over at once instead of after the visibility timeout.
      void this.#conn.writer
        .submit(() => {
          this.#conn.signalPending = true;
          return this.#conn.sql.releaseOwner.run(now, member.group, member.id);
        })
        .catch(() => {});
    }
    this.#conn.writer.close();
    this.#conn.writer.flush(true);
    // Settlements committed but not yet synced: sync now, before the connection goes.
    this.#walSync.close();
    this.#signal.close();
    this.#conn.members.clear();
    this.#wakeUps.leave();
    this.#db.close();
    this.#wakeUps.wakeLocal(undefined);
  }

  /**
   * Drops the connection the way a killed process does: nothing queued is committed and nothing held
   * is released; other members get the held messages once their leases expire.
   */
  abandon(): void {
    if (this.#conn.closed) return;
    this.#conn.closed = true;
    this.#stopTimers();
    this.#conn.writer.abandon();
    this.#walSync.abandon();
    this.#signal.close();
    for (const m of this.#conn.members) m.active = false;
    this.#conn.members.clear();
    this.#wakeUps.leave();
    this.#db.close();
  }

  #startTimers(): void {
    this.#wakeUps.watch();
    if (this.#renewTimer !== undefined) return;
    const { clock, visibilityMs, members, writer, sql } = this.#conn;
    const renew = (): void => {
      this.#renewTimer = clock.setTimeout(renew, Math.floor(visibilityMs / 3));
      const until = clock.now() + visibilityMs;
      const holders = [...members].filter((m) => m.holding.size > 0);
      if (holders.length === 0) return;
      void writer
        .submit(() => {
          for (const m of holders) sql.renew.run(until, m.group, m.id, JSON.stringify([...m.forgotten]));
        })
        .catch(() => {});
    };
    this.#renewTimer = clock.setTimeout(renew, Math.floor(visibilityMs / 3));
  }

  #unref(): void {
    if (this.#keepAlive !== undefined) clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }

  #stopTimers(): void {
    this.#unref();
    this.#wakeUps.stop();
    for (const t of [this.#renewTimer, this.#retentionTimer]) {
      if (t !== undefined) this.#conn.clock.clearTimeout(t);
    }
    this.#renewTimer = this.#retentionTimer = undefined;
  }
}

/**
 * Opens a connection to the embedded durable broker in `path` (created if missing). Several processes
 * may open the same file: each group's messages are shared among all members, whichever process they
 * are in; a member that dies loses its leases after `visibilityTimeoutMs`.
 *
 * @example
 * ```ts
 * import { publisher } from '@meshkit/messaging';
 * const broker = sqliteBroker({ path: 'var/events.db' });
 * const events = publisher(broker, { source: '/user-service' });
 * await events.publish('user.created', { id: '42' }, { key: '42' });
 * ```
 */
export function sqliteBroker(options: SqliteBrokerOptions): SqliteBroker {
  return new SqliteBroker(options);
}
