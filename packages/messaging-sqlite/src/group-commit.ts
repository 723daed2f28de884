import type { DatabaseSync } from 'node:sqlite';
import { ErrorCode, MeshError } from '@meshkit/core';

interface Op {
  readonly run: () => unknown;
  readonly resolve: (value: never) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Group commit: every write submitted in the same turn of the event loop (publishes from many
 * publishers, claims, acks, retries) runs in one `BEGIN IMMEDIATE ... COMMIT`, so the cost of the
 * durable commit (an fsync with `synchronous=FULL`) is shared. A promise resolves only after COMMIT
 * returned, that is once its write is on disk. Each operation runs inside its own savepoint, so one
 * failing operation does not undo the others.
 */
export class GroupCommit {
  readonly #db: DatabaseSync;
  readonly #maxOps: number;
  #ops: Op[] = [];
  #scheduled = false;
  #closed = false;

  constructor(db: DatabaseSync, maxOps = 1_000) {
    this.#db = db;
    this.#maxOps = maxOps;
  }

  /** Runs `run` inside the next transaction; resolves with its result after the commit. */
  submit<R>(run: () => R): Promise<R> {
    if (this.#closed) return Promise.reject(new MeshError(ErrorCode.CLOSED, 'broker connection is closed'));
    return new Promise<R>((resolve, reject) => {
      this.#ops.push({ run, resolve: resolve as (value: never) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits everything queued now (also called on close). */
  flush(): void {
    this.#scheduled = false;
    while (this.#ops.length > 0) {
      const ops = this.#ops.splice(0, this.#maxOps);
      this.#commit(ops);
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
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (cause) {
      const error = storageError('could not start a transaction', cause);
      for (const op of ops) op.reject(error);
      return;
    }
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
