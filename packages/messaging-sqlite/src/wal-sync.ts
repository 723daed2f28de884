import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';

/**
 * Makes relaxed (`synchronous=NORMAL`) WAL commits durable after the fact, without blocking the event
 * loop: `fdatasync` of the WAL file runs on libuv's thread pool, and a waiter is told only after a sync
 * that began after it asked. `fdatasync` flushes the file (inode), whichever descriptor wrote to it, so
 * it covers the frames SQLite wrote through its own descriptor.
 *
 * Why this is as durable as a `synchronous=FULL` commit: in WAL mode FULL differs from NORMAL only by
 * the WAL sync at the end of each commit. Frames committed earlier sit in the WAL until a checkpoint
 * copies them into the database file, and with NORMAL SQLite syncs the WAL before a checkpoint and the
 * database file after it, before the WAL is reused. So a commit's frames are on disk once a later sync of
 * the WAL finishes, or earlier, in the database file. The WAL file is deleted only by the last connection
 * to close (after a full checkpoint), and the connection using this stays open while it is in use.
 *
 * What differs from FULL: the commit is visible to other connections before it is on disk. That is only
 * used for settlements (acks and the like), where a power cut before the sync means a message is
 * delivered again, never that one is lost; and their promises still resolve only once they are durable.
 */
export class WalSync {
  readonly #path: string;
  #fd: number | undefined;
  /** Waiters for the next sync (they asked while one was running, so it may have missed their frames). */
  #next: Waiter[] = [];
  #closed = false;
  #abandoned = false;
  /** Waiters of the sync running now on the thread pool, if one runs. */
  #running: Waiter[] | undefined;
  /** Syncs performed so far. */
  syncs = 0;

  constructor(walPath: string) {
    this.#path = walPath;
  }

  /**
   * Opens the WAL file; false when that is impossible (the caller then commits with `FULL` instead).
   * Call after the connection wrote once in WAL mode, so the file exists.
   */
  open(): boolean {
    if (this.#fd !== undefined) return true;
    try {
      this.#fd = openSync(this.#path, 'r+');
      return true;
    } catch {
      return false;
    }
  }

  /** Calls `done` (with an error when the sync failed) after a sync that begins after this call. */
  after(done: (error?: Error) => void): void {
    if (this.#closed || this.#fd === undefined) {
      done(new Error('WAL sync is closed'));
      return;
    }
    this.#next.push(done);
    if (this.#running === undefined) this.#start();
  }

  #start(): void {
    const fd = this.#fd!;
    const batch = this.#next;
    this.#next = [];
    this.#running = batch;
    fdatasync(fd, (error) => {
      this.#running = undefined;
      this.syncs++;
      if (this.#abandoned) {
        closeSync(fd);
        return;
      }
      for (const done of batch) done(error ?? undefined);
      if (this.#closed) closeSync(fd);
      else if (this.#next.length > 0) this.#start();
    });
  }

  /**
   * Syncs now, on this thread, for whoever still waits (close), then closes the file. A sync still
   * running on the thread pool answers its own waiters and closes the file when done.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiting = this.#next;
    this.#next = [];
    const fd = this.#fd;
    let error: Error | undefined;
    if (fd !== undefined && waiting.length > 0) {
      try {
        fdatasyncSync(fd);
      } catch (cause) {
        error = cause as Error;
      }
    }
    for (const done of waiting) done(error);
    if (fd !== undefined && this.#running === undefined) closeSync(fd);
  }

  /**
   * Gives up without syncing, as a crash would: every waiter, including those of a sync still running,
   * is told its commit may not be on disk.
   */
  abandon(): void {
    if (this.#closed) return;
    this.#closed = this.#abandoned = true;
    const error = new Error('abandoned before the WAL sync');
    const waiting = [...(this.#running ?? []), ...this.#next];
    this.#next = [];
    if (this.#fd !== undefined && this.#running === undefined) closeSync(this.#fd);
    for (const done of waiting) done(error);
  }
}

type Waiter = (error?: Error) => void;
