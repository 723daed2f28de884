import type { DatabaseSync } from 'node:sqlite';
import { ErrorCode, MeshError } from '@meshkit/core';

interface Op {
  readonly run: () => unknown;
  /** Needs the durable `synchronous` mode (publishes); claims, renewals and the like do not. */
  readonly durable: boolean;
  readonly resolve: (value: never) => void;
  readonly reject: (error: Error) => void;
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
 * A transaction runs with the durable `synchronous` mode (an fsync per commit) only if one of its
 * operations asks for it; the others (claims, lease renewals) commit with the relaxed mode. Losing a
 * relaxed commit to a power cut only means a message is delivered again, never that one is lost.
 */
export class GroupCommit {
  readonly #db: DatabaseSync;
  readonly #maxOps: number;
  readonly #busyTimeoutMs: number;
  readonly #durableMode: string;
  readonly #relaxedMode: string;
  #mode = '';
  #ops: Op[] = [];
  #scheduled = false;
  #closed = false;
  /** When the current run of "database is locked" began (performance.now()), or -1. */
  #busySince = -1;
  /** Transactions committed so far (for `SqliteBroker.stats()`). */
  commits = 0;
  /** Operations committed so far. */
  operations = 0;
  #busyRetries = 0;

  constructor(
    db: DatabaseSync,
    busyTimeoutMs: number,
    durableMode: string,
    relaxedMode: string,
    maxOps = 1_000,
  ) {
    this.#db = db;
    this.#durableMode = durableMode;
    this.#relaxedMode = relaxedMode;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#maxOps = maxOps;
  }

  /**
   * Runs `run` inside the next transaction; resolves with its result after the commit. With `durable`
   * the commit uses the durable mode.
   */
  submit<R>(run: () => R, durable = false): Promise<R> {
    if (this.#closed) return Promise.reject(new MeshError(ErrorCode.CLOSED, 'broker connection is closed'));
    return new Promise<R>((resolve, reject) => {
      this.#ops.push({ run, durable, resolve: resolve as (value: never) => void, reject });
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
    if (blocking) this.#db.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
    try {
      while (this.#ops.length > 0) {
        let durable = false;
        for (let i = 0; i < this.#ops.length && i < this.#maxOps; i++) durable ||= this.#ops[i]!.durable;
        const mode = durable ? this.#durableMode : this.#relaxedMode;
        // Set outside the transaction; it applies to the next commit on this connection.
        if (mode !== this.#mode) {
          this.#db.exec(`PRAGMA synchronous = ${mode}`);
          this.#mode = mode;
        }
        if (!this.#begin()) return;
        this.#commit(this.#ops.splice(0, this.#maxOps));
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
        if (this.#busyRetries++ < 3) setImmediate(retry);
        else setTimeout(retry, 1);
        return false;
      }
      this.#busySince = -1;
      this.#busyRetries = 0;
      const error = storageError('could not start a transaction', cause);
      for (const op of this.#ops.splice(0)) op.reject(error);
      return false;
    }
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

  #commit(ops: Op[]): void {
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
    for (let i = 0; i < ops.length; i++) {
      const r = results[i]!;
      if (r.ok) ops[i]!.resolve(r.value as never);
      else ops[i]!.reject(r.value instanceof Error ? r.value : new Error(String(r.value)));
    }
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
