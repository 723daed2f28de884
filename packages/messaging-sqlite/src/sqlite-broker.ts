import { randomUUID } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import {
  type Clock,
  checkInteger,
  checkString,
  ErrorCode,
  InvalidArgumentError,
  MeshError,
  systemClock,
  type TimerHandle,
} from '@meshkit/core';
import {
  type Broker,
  type BrokerRecord,
  checkRecord,
  compilePatterns,
  type DeadLetterRequest,
  type Delivery,
  type PublishResult,
  type RetryRequest,
  type SubscribeOptions,
  type Subscription,
  type TopicMatcher,
} from '@meshkit/messaging';
import { CommitSignal, CommitWatcher, wakePath } from './commit-watcher.ts';
import { type Durability, GroupCommit } from './group-commit.ts';
import { blockedUntil, prepareDatabase, type Synchronous } from './schema.ts';
import { insertChunk, prepareStatements, type Statements } from './statements.ts';
import { WalSync } from './wal-sync.ts';

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
 * A claimed message. Built from the statements' array rows into one object shape: the objects
 * `node:sqlite` makes per row have dictionary properties, slow to read for every delivery.
 */
interface Row {
  readonly seq: number;
  readonly topic: string;
  readonly key: string | null;
  readonly headers: string;
  readonly body: Uint8Array;
  readonly deliveries: number;
  /** Headers a retry merged in, replacing `headers`. */
  readonly override: string | null;
}

/** A row of `scan` ([seq, topic, key, headers, body]), delivered for the first time. */
function newRow(a: unknown[]): Row {
  return {
    seq: a[0] as number,
    topic: a[1] as string,
    key: a[2] as string | null,
    headers: a[3] as string,
    body: a[4] as Uint8Array,
    deliveries: 1,
    override: null,
  };
}

/** A row of `dueLeases` ([seq, deliveries, override, topic, key, headers, body]), delivered once more. */
function dueRow(a: unknown[]): Row {
  return {
    seq: a[0] as number,
    topic: a[3] as string,
    key: a[4] as string | null,
    headers: a[5] as string,
    body: a[6] as Uint8Array,
    deliveries: (a[1] as number) + 1,
    override: a[2] as string | null,
  };
}

interface Member {
  readonly id: string;
  readonly group: string;
  readonly options: SubscribeOptions;
  /** Sequence numbers delivered to this member and not yet settled. */
  readonly holding: Set<number>;
  /** Its own leases whose settlement failed for good: not renewed, and claimable again once expired. */
  readonly forgotten: Set<number>;
  active: boolean;
  fetching: boolean;
  /** Something may be claimable; cleared when a claim comes back short with no wake-up in between. */
  maybeMore: boolean;
  wakes: number;
  dueTimer: TimerHandle | undefined;
}

interface Settle {
  /** A statement to run, or the sequence number to ack (batched). */
  readonly run: (() => void) | number;
  /** The acked message's key, whose next blocked message becomes due. */
  readonly key: string | null;
  readonly seq: number;
  readonly member: Member;
  attempts: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Shortest run of consecutive acked sequence numbers deleted as a range rather than listed. */
const minAckRange = 8;

/** Connections in this process per file, so a commit wakes local members at once. */
const local = new Map<string, Set<SqliteBroker>>();

/**
 * One connection to the embedded durable broker. Open one per process (or several: they behave like
 * separate processes). See {@link sqliteBroker}.
 */
export class SqliteBroker implements Broker {
  readonly name = 'sqlite';
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #sql: Statements;
  readonly #writer: GroupCommit;
  readonly #clock: Clock;
  readonly #visibilityMs: number;
  readonly #pollMs: number;
  readonly #retentionMs: number;
  readonly #maxMessageBytes: number;
  readonly #durableSettlements: boolean;
  readonly #settlements: Durability;
  readonly #synchronous: Synchronous;
  readonly #walSync: WalSync;
  readonly #signal: CommitSignal;
  /** The transaction being built may give other processes work: signal them after its commit. */
  #signalPending = false;
  readonly #members = new Set<Member>();
  readonly #matchers = new Map<string, { key: string; match: TopicMatcher }>();
  #settles: Settle[] = [];
  #settleQueued = false;
  #dataVersion = 0;
  #commits: CommitWatcher | undefined;
  #renewTimer: TimerHandle | undefined;
  #retentionTimer: TimerHandle | undefined;
  #closed = false;
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
    this.#visibilityMs = checkInteger(
      'sqliteBroker.visibilityTimeoutMs',
      options.visibilityTimeoutMs ?? 30_000,
      3,
    );
    this.#pollMs = checkInteger('sqliteBroker.pollIntervalMs', options.pollIntervalMs ?? 25, 1);
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
    this.#clock = options.clock ?? systemClock;
    this.#db = new DatabaseSync(this.path);
    try {
      prepareDatabase(this.#db, synchronous, busyTimeoutMs);
      this.#sql = prepareStatements(this.#db);
    } catch (error) {
      this.#db.close();
      throw error;
    }
    this.#db.exec('PRAGMA busy_timeout = 0');
    // The schema transaction above created the WAL file. With synchronous=NORMAL chosen for publishes
    // there is nothing to sync settlements for.
    this.#walSync = new WalSync(`${this.path}-wal`);
    const walSync = synchronous !== 'NORMAL' && this.#walSync.open() ? this.#walSync : undefined;
    this.#settlements = this.#durableSettlements ? 'durable-after' : 'relaxed';
    this.#signal = new CommitSignal(wakePath(this.path));
    this.#signal.open();
    this.#writer = new GroupCommit(this.#db, busyTimeoutMs, synchronous, 'NORMAL', {
      walSync,
      onCommit: () => {
        if (!this.#signalPending) return;
        this.#signalPending = false;
        this.#signal.notify();
      },
    });
    this.#dataVersion = this.#readDataVersion();
    const peers = local.get(this.path) ?? new Set<SqliteBroker>();
    local.set(this.path, peers);
    peers.add(this);
    const retention = (): void => {
      this.#retentionTimer = this.#clock.setTimeout(retention, retentionIntervalMs);
      void this.runRetention().catch(() => {});
    };
    this.#retentionTimer = this.#clock.setTimeout(retention, retentionIntervalMs);
  }

  async publish(records: readonly BrokerRecord[]): Promise<PublishResult[]> {
    if (this.#closed) {
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
    const now = this.#clock.now();
    const sql = this.#sql;
    // A failed commit rejects this promise: every record of the batch is then unconfirmed.
    await this.#writer.submit(() => {
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
      this.#signalPending = true;
    }, 'durable');
    this.#wakeLocal(undefined);
    return results as PublishResult[];
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.#closed) throw new MeshError(ErrorCode.CLOSED, 'broker connection is closed');
    const group = checkString('subscribe.group', options.group);
    checkInteger('subscribe.prefetch', options.prefetch, 1);
    await this.#writer.submit(() => {
      this.#sql.ensureGroup.run(group);
      for (const p of options.patterns) this.#sql.ensureBinding.run(group, p);
    });
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
    this.#members.add(member);
    this.#keepAlive ??= setInterval(() => {}, 1 << 30);
    this.#startTimers();
    this.#fetch(member);
    return {
      stop: async () => {
        member.active = false;
        this.#clearDue(member);
      },
      close: async () => {
        member.active = false;
        this.#clearDue(member);
        if (!this.#members.delete(member) || this.#closed) return;
        if (this.#members.size === 0) this.#unref();
        await this.#writer.submit(() => {
          this.#sql.releaseOwner.run(this.#clock.now(), group, member.id);
          this.#signalPending = true;
        });
        this.#wakeLocal(group);
      },
    };
  }

  /**
   * Counters of this connection: transactions committed, the writes they carried, and the syncs of the
   * WAL that made settlements durable after their commit.
   */
  stats(): { commits: number; operations: number; members: number; walSyncs: number } {
    return {
      commits: this.#writer.commits,
      operations: this.#writer.operations,
      members: this.#members.size,
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

  /** Deletes messages past retention (normally run on a timer); resolves with how many went. */
  async runRetention(limit = 10_000): Promise<number> {
    const cutoff = this.#clock.now() - this.#retentionMs;
    return this.#writer.submit(() => Number(this.#sql.retention.run(cutoff, limit).changes));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimers();
    const now = this.#clock.now();
    for (const member of this.#members) {
      member.active = false;
      // Released now so another member takes over at once instead of after the visibility timeout.
      void this.#writer
        .submit(() => {
          this.#signalPending = true;
          return this.#sql.releaseOwner.run(now, member.group, member.id);
        })
        .catch(() => {});
    }
    this.#writer.close();
    this.#writer.flush(true);
    // Settlements committed but not yet synced: sync now, before the connection goes.
    this.#walSync.close();
    this.#signal.close();
    this.#members.clear();
    local.get(this.path)?.delete(this);
    this.#db.close();
    this.#wakeLocal(undefined);
  }

  /**
   * Drops the connection the way a killed process does: nothing queued is committed and nothing held
   * is released; other members get the held messages once their leases expire.
   */
  abandon(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimers();
    this.#writer.abandon();
    this.#walSync.abandon();
    this.#signal.close();
    for (const m of this.#members) m.active = false;
    this.#members.clear();
    local.get(this.path)?.delete(this);
    this.#db.close();
  }

  // --- claiming -----------------------------------------------------------------------------------

  #fetch(member: Member): void {
    if (!member.active || member.fetching || this.#closed || !member.maybeMore) return;
    const credit = member.options.prefetch - member.holding.size;
    // Refill in batches (from half empty) rather than one claim per settled message: a claim is a
    // write transaction, and a stream of tiny ones costs more than the messages they carry.
    if (credit <= 0 || (member.holding.size > 0 && credit < Math.ceil(member.options.prefetch / 2))) return;
    member.fetching = true;
    let wakesAtStart = 0;
    this.#writer
      .submit(() => {
        wakesAtStart = member.wakes;
        return this.#claim(member, credit);
      })
      .then(
        (rows) => {
          member.fetching = false;
          // Closed meanwhile: close() released these leases in the same commit.
          if (this.#closed) return;
          if (rows.length < credit && member.wakes === wakesAtStart) {
            member.maybeMore = false;
            this.#scheduleDue(member);
          }
          for (const row of rows) {
            member.holding.add(row.seq);
            member.forgotten.delete(row.seq);
            if (!member.active) {
              // Stopped while claiming: hand the message back untouched.
              this.#settle(
                () => this.#sql.release.run(this.#clock.now(), member.group, row.seq, member.id),
                member,
                row.seq,
              ).catch(() => {});
              continue;
            }
            member.options.onDelivery(new SqliteDelivery(this, member, row));
          }
          this.#fetch(member);
        },
        () => {
          member.fetching = false;
          // A failed claim (lock held too long, I/O error): try again shortly rather than spin.
          if (!this.#closed) this.#armDue(member, this.#clock.now() + 10);
        },
      );
  }

  /** Runs inside a transaction: takes due leases first (retries, releases, dead members), then new messages. */
  #claim(member: Member, limit: number): Row[] {
    const sql = this.#sql;
    const now = this.#clock.now();
    const until = now + this.#visibilityMs;
    // A live member never takes back its own expired lease (it still holds that message), except the
    // ones it gave up on.
    const due = sql.dueLeases.all(
      member.group,
      now,
      member.id,
      JSON.stringify([...member.forgotten]),
      limit,
    ) as unknown as unknown[][];
    const rows = due.map(dueRow);
    for (const row of rows) sql.takeLease.run(member.id, until, member.group, row.seq);
    if (rows.length >= limit) return rows;
    const matches = this.#matcher(member.group);
    let cursor = Number((sql.cursorOf.get(member.group) as { cursor: number } | undefined)?.cursor ?? 0);
    const start = cursor;
    let scanned = 0;
    const claimed: number[] = [];
    const claimedKeyed: [number, string][] = [];
    const blocked: [number, string][] = [];
    // Keys this claim took ('mine') or had to block (the lease rows are inserted at the end).
    const keysHere = new Map<string, 'mine' | 'blocked'>();
    while (rows.length < limit && scanned < 10_000) {
      const need = limit - rows.length;
      const batch = sql.scan.all(cursor, need) as unknown as unknown[][];
      for (const cells of batch) {
        cursor = cells[0] as number;
        if (!matches(cells[1] as string)) continue;
        const row = newRow(cells);
        const key = row.key;
        if (key !== null) {
          let state = keysHere.get(key);
          if (state === undefined) {
            const h = sql.keyHolders.get(member.group, key, member.id) as { n: number; mine: number };
            // Free, or held only by this member (whose key scheduler keeps them in order): take it.
            state = h.n === h.mine ? 'mine' : 'blocked';
            keysHere.set(key, state);
          }
          if (state === 'blocked') {
            // Another member holds this key, or one of its messages waits: queue behind it.
            blocked.push([row.seq, key]);
            continue;
          }
        }
        if (key === null) claimed.push(row.seq);
        else claimedKeyed.push([row.seq, key]);
        rows.push(row);
      }
      scanned += batch.length;
      if (batch.length < need) break;
    }
    if (claimed.length > 0) sql.insertLeases.run(member.group, member.id, until, 1, JSON.stringify(claimed));
    if (claimedKeyed.length > 0) {
      sql.insertKeyedLeases.run(member.group, member.id, until, 1, JSON.stringify(claimedKeyed));
    }
    if (blocked.length > 0) {
      sql.insertKeyedLeases.run(member.group, null, blockedUntil, 0, JSON.stringify(blocked));
    }
    if (cursor !== start) sql.setCursor.run(cursor, member.group);
    return rows;
  }

  #matcher(group: string): TopicMatcher {
    const patterns = (this.#sql.bindingsOf.all(group) as { pattern: string }[]).map((r) => r.pattern);
    const key = patterns.join('\n');
    const cached = this.#matchers.get(group);
    if (cached !== undefined && cached.key === key) return cached.match;
    const match = compilePatterns(patterns);
    this.#matchers.set(group, { key, match });
    return match;
  }

  // --- settling -----------------------------------------------------------------------------------

  /**
   * Queues a settlement; all settlements of a turn share one operation of the group commit, and the
   * acks among them become one statement per member.
   */
  #settle(run: (() => void) | number, member: Member, seq: number, key: string | null = null): Promise<void> {
    member.holding.delete(seq);
    const done = new Promise<void>((resolve, reject) =>
      this.#queueSettle({ run, key, seq, member, resolve, reject, attempts: 0 }),
    );
    // Credit is back: claim more if more may be waiting.
    this.#fetch(member);
    return done;
  }

  #queueSettle(settle: Settle): void {
    this.#settles.push(settle);
    if (this.#settleQueued) return;
    this.#settleQueued = true;
    this.#submitSettles();
  }

  #submitSettles(): void {
    let batch: Settle[] = [];
    const unblocked = new Set<string>();
    this.#writer
      .submit(() => {
        this.#settleQueued = false;
        batch = this.#settles;
        this.#settles = [];
        const acks = new Map<Member, number[]>();
        for (const s of batch) {
          if (typeof s.run !== 'number') {
            // Retries, releases and dead letters give work to someone, maybe in another process.
            this.#signalPending = true;
            s.run();
          } else {
            const seqs = acks.get(s.member);
            if (seqs === undefined) acks.set(s.member, [s.run]);
            else seqs.push(s.run);
          }
        }
        for (const [m, seqs] of acks) this.#ack(m, seqs);
        const now = this.#clock.now();
        for (const s of batch) {
          if (typeof s.run === 'number' && s.key !== null) {
            if (this.#sql.unblock.run(s.member.group, s.key, now).changes > 0) {
              unblocked.add(s.member.group);
              this.#signalPending = true;
            }
          }
        }
      }, this.#settlements)
      .then(
        () => {
          for (const s of batch) s.resolve();
          for (const group of unblocked) this.#wakeLocal(group);
        },
        (error: Error) => {
          if (batch.length === 0) {
            // The transaction never started: what was waiting for it failed with it.
            this.#settleQueued = false;
            batch = this.#settles;
            this.#settles = [];
          }
          for (const s of batch) {
            // Try a few more times; then give up: the lease, no longer renewed, expires and the message
            // is delivered again (to any member, this one included).
            if (s.attempts >= 3 || this.#closed) {
              s.reject(error);
              s.member.forgotten.add(s.seq);
              this.#scheduleDue(s.member);
              continue;
            }
            s.attempts++;
            setTimeout(
              () => (this.#closed ? s.reject(error) : this.#queueSettle(s)),
              20 * 2 ** s.attempts,
            ).unref();
          }
        },
      );
  }

  /**
   * Deletes the member's leases of `seqs` (each acked once, so no duplicates): runs of consecutive
   * numbers as ranges (every number of a run is in `seqs`, so exactly those leases go), the rest as one
   * list.
   */
  #ack(member: Member, seqs: number[]): void {
    seqs.sort((a, b) => a - b);
    const rest: number[] = [];
    let start = 0;
    for (let i = 1; i <= seqs.length; i++) {
      if (i < seqs.length && seqs[i] === seqs[i - 1]! + 1) continue;
      if (i - start >= minAckRange)
        this.#sql.ackRange.run(member.group, member.id, seqs[start]!, seqs[i - 1]!);
      else for (let j = start; j < i; j++) rest.push(seqs[j]!);
      start = i;
    }
    if (rest.length > 0) this.#sql.ackMany.run(member.group, member.id, JSON.stringify(rest));
  }

  /** @internal */
  ack(member: Member, seq: number, key: string | null): Promise<void> {
    return this.#settle(seq, member, seq, key);
  }

  /** @internal */
  retryLater(member: Member, seq: number, headers: string, request: RetryRequest): Promise<void> {
    const merged = JSON.stringify({ ...JSON.parse(headers), ...request.headers });
    const due = this.#clock.now() + request.delayMs;
    return this.#settle(
      () => this.#sql.retry.run(due, merged, member.group, seq, member.id),
      member,
      seq,
    ).then(() => this.#wakeAt(member.group, due));
  }

  /** @internal */
  release(member: Member, seq: number): Promise<void> {
    return this.#settle(
      () => this.#sql.release.run(this.#clock.now(), member.group, seq, member.id),
      member,
      seq,
    ).then(() => this.#wakeLocal(member.group));
  }

  /** @internal Moves the message to the dead-letter topic and settles it, in one transaction. */
  deadLetter(member: Member, row: Row, headers: string, request: DeadLetterRequest): Promise<void> {
    const merged = JSON.stringify({ ...JSON.parse(headers), ...request.headers });
    return this.#settle(
      () => {
        const { changes } = this.#sql.ack.run(member.group, row.seq, member.id);
        if (changes === 0) return; // lease lost: another member has the message now
        const now = this.#clock.now();
        if (row.key !== null) this.#sql.unblock.run(member.group, row.key, now);
        const { lastInsertRowid } = this.#sql.insertMessage.run(
          request.topic,
          row.key,
          merged,
          row.body,
          now,
        );
        // Dead letters are kept in a group named after their topic until someone reads them.
        this.#sql.ensureGroupAt.run(request.topic, Number(lastInsertRowid) - 1);
        this.#sql.ensureBinding.run(request.topic, request.topic);
      },
      member,
      row.seq,
    ).then(() => this.#wakeLocal(undefined));
  }

  // --- waking -------------------------------------------------------------------------------------

  #wake(member: Member): void {
    member.wakes++;
    member.maybeMore = true;
    this.#fetch(member);
  }

  /** Wakes members of `group` (or all) in every connection of this process to the same file. */
  #wakeLocal(group: string | undefined): void {
    for (const peer of local.get(this.path) ?? []) peer.#wakeGroup(group);
  }

  #wakeGroup(group: string | undefined): void {
    if (this.#closed) return;
    for (const m of this.#members) if (group === undefined || m.group === group) this.#wake(m);
  }

  #wakeAt(group: string, due: number): void {
    for (const peer of local.get(this.path) ?? []) {
      for (const m of peer.#members) if (m.group === group) peer.#armDue(m, due);
    }
  }

  #scheduleDue(member: Member): void {
    if (this.#closed) return;
    const row = this.#sql.nextDue.get(member.group, member.id, JSON.stringify([...member.forgotten])) as
      | { due: number | null }
      | undefined;
    if (row?.due != null) this.#armDue(member, row.due);
  }

  #armDue(member: Member, due: number): void {
    this.#clearDue(member);
    if (!member.active) return;
    member.dueTimer = this.#clock.setTimeout(
      () => {
        member.dueTimer = undefined;
        this.#wake(member);
      },
      // One millisecond late on purpose: timers may fire a little before the wall clock reaches `due`,
      // and a claim made then would find nothing and arm no further timer.
      Math.max(1, due - this.#clock.now() + 1),
    );
  }

  #clearDue(member: Member): void {
    if (member.dueTimer !== undefined) this.#clock.clearTimeout(member.dueTimer);
    member.dueTimer = undefined;
  }

  #readDataVersion(): number {
    return Number((this.#sql.dataVersion.get() as { data_version: number }).data_version);
  }

  /** `data_version` changes when another connection commits: a cheap cross-process nudge. */
  #checkForeignCommit(): void {
    if (this.#closed) return;
    const version = this.#readDataVersion();
    if (version === this.#dataVersion) return;
    this.#dataVersion = version;
    this.#writer.poke();
    for (const m of this.#members) if (m.active && !m.maybeMore) this.#wake(m);
  }

  #startTimers(): void {
    if (this.#commits === undefined) {
      this.#commits = new CommitWatcher({
        path: wakePath(this.path),
        check: () => this.#checkForeignCommit(),
        idlePollMs: this.#pollMs,
        fallbackPollMs: 2,
        clock: this.#clock,
      });
      this.#commits.start();
    }
    if (this.#renewTimer === undefined) {
      const renew = (): void => {
        this.#renewTimer = this.#clock.setTimeout(renew, Math.floor(this.#visibilityMs / 3));
        const until = this.#clock.now() + this.#visibilityMs;
        const holders = [...this.#members].filter((m) => m.holding.size > 0);
        if (holders.length === 0) return;
        void this.#writer
          .submit(() => {
            for (const m of holders)
              this.#sql.renew.run(until, m.group, m.id, JSON.stringify([...m.forgotten]));
          })
          .catch(() => {});
      };
      this.#renewTimer = this.#clock.setTimeout(renew, Math.floor(this.#visibilityMs / 3));
    }
  }

  #unref(): void {
    if (this.#keepAlive !== undefined) clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }

  #stopTimers(): void {
    this.#unref();
    this.#commits?.stop();
    this.#commits = undefined;
    for (const t of [this.#renewTimer, this.#retentionTimer]) {
      if (t !== undefined) this.#clock.clearTimeout(t);
    }
    this.#renewTimer = this.#retentionTimer = undefined;
    for (const m of this.#members) this.#clearDue(m);
  }
}

class SqliteDelivery implements Delivery {
  readonly topic: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly position: string;
  readonly deliveryCount: number;
  readonly #broker: SqliteBroker;
  readonly #member: Member;
  readonly #row: Row;
  readonly #headerText: string;
  #settled = false;

  constructor(broker: SqliteBroker, member: Member, row: Row) {
    this.#broker = broker;
    this.#member = member;
    this.#row = row;
    this.#headerText = row.override ?? row.headers;
    this.topic = row.topic;
    this.key = row.key ?? undefined;
    this.headers = JSON.parse(this.#headerText) as Record<string, string>;
    this.body = row.body;
    this.position = String(row.seq);
    this.deliveryCount = row.deliveries;
  }

  #once(): void {
    if (this.#settled) throw new MeshError(ErrorCode.INVALID_ARGUMENT, 'delivery was already settled');
    this.#settled = true;
  }

  ack(): Promise<void> {
    this.#once();
    return this.#broker.ack(this.#member, this.#row.seq, this.#row.key);
  }

  retryLater(request: RetryRequest): Promise<void> {
    this.#once();
    return this.#broker.retryLater(this.#member, this.#row.seq, this.#headerText, request);
  }

  deadLetter(request: DeadLetterRequest): Promise<void> {
    this.#once();
    return this.#broker.deadLetter(this.#member, this.#row, this.#headerText, request);
  }

  release(): Promise<void> {
    this.#once();
    return this.#broker.release(this.#member, this.#row.seq);
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
