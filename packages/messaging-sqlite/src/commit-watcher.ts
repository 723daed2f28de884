import { closeSync, constants, type FSWatcher, openSync, watch, writeSync } from 'node:fs';
import type { Clock, TimerHandle } from '@meshkit/core';

/**
 * The wake file next to a broker database (`<path>-wake`): a connection writes one byte to it after a
 * commit that may give other processes work, and the others watch it. Its content means nothing.
 */
export function wakePath(databasePath: string): string {
  return `${databasePath}-wake`;
}

/**
 * The writing half: {@link CommitSignal.notify} after a commit returned, so the commit is already
 * visible when a watcher reacts. One `pwrite` of one byte into the page cache (a few microseconds), and
 * the file never grows. Failures are ignored: watchers also poll.
 */
export class CommitSignal {
  readonly #path: string;
  #fd: number | undefined;
  readonly #byte = new Uint8Array(1);

  constructor(path: string) {
    this.#path = path;
  }

  /** Creates the file if missing (watchers need it to exist) and keeps it open. */
  open(): void {
    if (this.#fd !== undefined) return;
    try {
      this.#fd = openSync(this.#path, constants.O_RDWR | constants.O_CREAT, 0o666);
    } catch {
      this.#fd = undefined;
    }
  }

  notify(): void {
    if (this.#fd === undefined) return;
    try {
      writeSync(this.#fd, this.#byte, 0, 1, 0);
    } catch {
      // Watchers fall back to their poll.
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** Options of {@link CommitWatcher}. */
export interface CommitWatcherOptions {
  /** The wake file ({@link wakePath}) that other connections write to after their commits. */
  readonly path: string;
  /** Looks for a commit (reads `PRAGMA data_version`) and wakes whoever waits. Cheap, no I/O. */
  readonly check: () => void;
  /** Check interval while file events arrive, ms: a poll that covers missed or coalesced events. */
  readonly idlePollMs: number;
  /** Check interval when file events are unavailable, ms. */
  readonly fallbackPollMs: number;
  readonly clock: Clock;
}

/**
 * Notices commits made by other processes without a fast poll when nothing happens. Writers signal
 * through the wake file after their commit returned ({@link CommitSignal}), so one check per file event
 * (inotify, through `fs.watch`) sees the commit; a slow `idlePollMs` poll covers missed events and
 * writers that do not signal, and the interval drops to `fallbackPollMs` where files cannot be watched.
 *
 * Watching the WAL file instead (as before) fires when the frames are written, before the commit is
 * visible (the fsync and the shared-memory index update follow), which forced a burst of 1 ms timer
 * checks and cost about a millisecond per cross-process wake-up.
 */
export class CommitWatcher {
  readonly #options: CommitWatcherOptions;
  #watcher: FSWatcher | undefined;
  #idleTimer: TimerHandle | undefined;
  #running = false;
  #watchFailed = false;

  constructor(options: CommitWatcherOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#watch();
    this.#armIdle();
  }

  stop(): void {
    this.#running = false;
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#idleTimer !== undefined) this.#options.clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #armIdle(): void {
    const { clock, idlePollMs, fallbackPollMs } = this.#options;
    // Without file events the fast interval is the only way to notice commits soon.
    const interval = this.#watchFailed ? Math.min(idlePollMs, fallbackPollMs) : idlePollMs;
    this.#idleTimer = clock.setTimeout(() => {
      if (!this.#running) return;
      this.#options.check();
      if (this.#watcher === undefined) this.#watch();
      this.#armIdle();
    }, interval);
  }

  #watch(): void {
    try {
      const watcher = watch(this.#options.path, { persistent: false }, () => {
        if (this.#running) this.#options.check();
      });
      watcher.on('error', () => {
        watcher.close();
        if (this.#watcher === watcher) this.#watcher = undefined;
      });
      this.#watcher = watcher;
      this.#watchFailed = false;
    } catch {
      this.#watchFailed = true;
    }
  }
}
