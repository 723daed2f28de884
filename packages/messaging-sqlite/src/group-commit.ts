import type { DatabaseSync } from 'node:sqlite';
import { ErrorCode, MeshError } from '@meshkit/core';
import type { WalSync } from './wal-sync.ts';

/**
 * How durable an operation must be when its promise resolves:
 * - `relaxed`: committed (claims, lease renewals; a power cut may undo them, which only means a
 *   message is delivered again);
 * - `durable`: on disk before anyone sees it: the commit itself uses the durable `synchronous` mode
 *   (publishes: no consumer may handle a message that a power cut could take back);
 * - `durable-after`: on disk before the promise resolves, but others may see it earlier: a relaxed
 *   commit, then a sync of the WAL off the event loop (settlements). Without a {@link WalSync} this
 *   is `durable`.
 */
export type Durability = 'relaxed' | 'durable' | 'durable-after';

interface Op {
  readonly run: () => unknown;
  readonly durability: Durability;
  readonly resolve: (value: never) => void;
  readonly reject: (error: Error) => void;
}

/** Options of {@link GroupCommit}. */
export interface GroupCommitOptions {
  /** Most operations in one transaction. Defaults to 1,000. */
  readonly maxOps?: number;
  /** Syncs the WAL for `durable-after` operations; without it they are `durable`. */
  readonly walSync?: WalSync;
  /** Called after every commit, before the operations' promises settle. */
  readonly onCommit?: () => void;
  /** Interval of the retries of a write waiting for another connection's lock, ms. Defaults to 1. */
  readonly busyRetryMs?: number;
}

/**
 * Group commit: every write submitted in the same turn of the event loop (publishes from many
 * publishers, claims, acks, retries) runs in one `BEGIN IMMEDIATE ... COMMIT`, so the cost of the
 * durable commit (an fsync with `synchronous=FULL`) is shared. A promise resolves only after COMMIT
 * returned, that is once its write is on disk. Each operation runs inside its own savepoint, so one
 * failing operation does not undo the others.
 *
 * When another process holds the write lock, SQLite's own busy handler would sleep inside the call
 * (blocking the event loop, in steps up to 100 ms). Instead the connection runs with `busy_timeout = 0`
 * and the group commit retries `BEGIN IMMEDIATE` from the event loop (next turn, then every
 * millisecond) until `busyTimeoutMs` has passed; meanwhile new writes join the waiting batch.
 *
 * A transaction runs with the durable `synchronous` mode (an fsync per commit, the write lock held
 * meanwhile and the event loop blocked) only if one of its operations is `durable`; the others commit
 * with the relaxed mode, and those that are `durable-after` resolve once a {@link WalSync} has synced
 * the WAL on the thread pool. See {@link Durability}.
 */
export class GroupCommit {
  readonly #db: DatabaseSync;
  readonly #maxOps: number;
  readonly #busyRetryMs: number;
  readonly #busyTimeoutMs: number;
  readonly #durableMode: string;
  readonly #relaxedMode: string;
  readonly #walSync: WalSync | undefined;
  readonly #onCommit: (() => void) | undefined;
  #mode = '';
  #ops: Op[] = [];
  #scheduled = false;
  #closed = false;
  /** When the current run of "database is locked" began (performance.now()), or -1. */
  #busySince = -1;
  #busyRetries = 0;
  /** The timer of a retry after "database is locked", while one is waiting. */
  #retryTimer: NodeJS.Timeout | undefined;
  /** Transactions committed so far (for `SqliteBroker.stats()`). */
  commits = 0;
  /** Operations committed so far. */
  operations = 0;

  constructor(
    db: DatabaseSync,
    busyTimeoutMs: number,
    durableMode: string,
    relaxedMode: string,
    options: GroupCommitOptions = {},
  ) {
    this.#db = db;
    this.#walSync = options.walSync;
    this.#onCommit = options.onCommit;
    this.#durableMode = durableMode;
    this.#relaxedMode = relaxedMode;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#maxOps = options.maxOps ?? 1_000;
    this.#busyRetryMs = options.busyRetryMs ?? 1;
  }

  /**
   * Runs `run` inside the next transaction; resolves with its result after the commit, and once the
   * commit is as durable as `durability` asks.
   */
  submit<R>(run: () => R, durability: Durability = 'relaxed'): Promise<R> {
    if (this.#closed) return Promise.reject(new MeshError(ErrorCode.CLOSED, 'broker connection is closed'));
    const d = durability === 'durable-after' && this.#walSync === undefined ? 'durable' : durability;
    return new Promise<R>((resolve, reject) => {
      this.#ops.push({ run, durability: d, resolve: resolve as (value: never) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Commits everything queued now. With `blocking` (close), waits for the write lock inside SQLite
   * instead of retrying from the event loop.
   */
  flush(blocking = false): void {
    this.#scheduled = false;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (blocking) this.#db.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
    try {
      while (this.#ops.length > 0) {
        let durable = false;
        for (let i = 0; i < this.#ops.length && i < this.#maxOps; i++) {
          durable ||= this.#ops[i]!.durability === 'durable';
        }
        const mode = durable ? this.#durableMode : this.#relaxedMode;
        // Set outside the transaction; it applies to the next commit on this connection.
        if (mode !== this.#mode) {
          this.#db.exec(`PRAGMA synchronous = ${mode}`);
          this.#mode = mode;
        }
        if (!this.#begin()) return;
        this.#commit(this.#ops.splice(0, this.#maxOps), durable);
      }
    } finally {
      if (blocking) this.#db.exec('PRAGMA busy_timeout = 0');
    }
  }

  /** Starts the transaction; on a busy database schedules a retry (or fails the queue) and returns false. */
  #begin(): boolean {
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      this.#busySince = -1;
      this.#busyRetries = 0;
      return true;
    } catch (cause) {
      const now = performance.now();
      const busy = (cause as { errcode?: number }).errcode === 5;
      if (busy && this.#busySince < 0) this.#busySince = now;
      if (busy && now - this.#busySince < this.#busyTimeoutMs) {
        this.#scheduled = true;
        const retry = (): void => this.flush();
        // Spinning on every turn for longer was measured: under CPU contention it starved the lock
        // holder and made waits far longer. A commit signalled by another process pokes the wait.
        if (this.#busyRetries++ < 3) setImmediate(retry);
        else this.#retryTimer = setTimeout(retry, this.#busyRetryMs);
        return false;
      }
      this.#busySince = -1;
      this.#busyRetries = 0;
      const error = storageError('could not start a transaction', cause);
      for (const op of this.#ops.splice(0)) op.reject(error);
      return false;
    }
  }

  /**
   * Another connection has just committed, so the write lock is probably free: a write waiting for it
   * retries now instead of at its next timer (which costs a millisecond or more).
   */
  poke(): void {
    if (this.#retryTimer === undefined) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    setImmediate(() => this.flush());
  }

  /** Refuses later writes; what is queued is still committed by {@link GroupCommit.flush}. */
  close(): void {
    this.#closed = true;
  }

  /** Refuses later writes and fails what is queued, committing nothing (a simulated crash). */
  abandon(): void {
    this.#closed = true;
    const error = new MeshError(ErrorCode.CLOSED, 'broker connection was abandoned');
    for (const op of this.#ops.splice(0)) op.reject(error);
  }

  #commit(ops: Op[], durable: boolean): void {
    const db = this.#db;
    const results: { ok: boolean; value: unknown }[] = [];
    for (const op of ops) {
      db.exec('SAVEPOINT op');
      try {
        results.push({ ok: true, value: op.run() });
        db.exec('RELEASE op');
      } catch (error) {
        db.exec('ROLLBACK TO op');
        db.exec('RELEASE op');
        results.push({ ok: false, value: error });
      }
    }
    try {
      db.exec('COMMIT');
    } catch (cause) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // The transaction is already gone; nothing of it was committed either way.
      }
      const error = storageError('commit failed', cause);
      for (const op of ops) op.reject(error);
      return;
    }
    this.commits++;
    this.operations += ops.length;
    this.#onCommit?.();
    const waiting: number[] = [];
    for (let i = 0; i < ops.length; i++) {
      const r = results[i]!;
      if (!r.ok) ops[i]!.reject(r.value instanceof Error ? r.value : new Error(String(r.value)));
      else if (durable || ops[i]!.durability !== 'durable-after') ops[i]!.resolve(r.value as never);
      else waiting.push(i);
    }
    if (waiting.length === 0) return;
    this.#walSync!.after((cause) => {
      const error = cause === undefined ? undefined : storageError('WAL sync failed', cause);
      for (const i of waiting) {
        if (error === undefined) ops[i]!.resolve(results[i]!.value as never);
        else ops[i]!.reject(error);
      }
    });
  }
}

function storageError(what: string, cause: unknown): MeshError {
  const text = cause instanceof Error ? cause.message : String(cause);
  return new MeshError(ErrorCode.BROKER_REJECTED, `sqlite broker: ${what}: ${text}`, {
    cause,
    retryable: true,
    rejected: true,
  });
}
