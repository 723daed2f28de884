import { type FSWatcher, watch } from 'node:fs';
import type { Clock, TimerHandle } from '@meshkit/core';

/** Options of {@link CommitWatcher}. */
export interface CommitWatcherOptions {
  /** The WAL file whose changes signal another connection's commit. */
  readonly walPath: string;
  /** Looks for a commit (reads `PRAGMA data_version`) and wakes whoever waits. Cheap, no I/O. */
  readonly check: () => void;
  /** Check interval with no file event, ms (also the interval when file events are unavailable). */
  readonly idlePollMs: number;
  /** Check interval after a file event, ms. */
  readonly burstPollMs: number;
  /** How long checks stay fast after the last file event, ms. */
  readonly burstMs: number;
  readonly clock: Clock;
}

/**
 * Notices commits made by other processes without a fast poll when nothing happens. A write to the
 * WAL file (inotify, through `fs.watch`) arrives just before the commit becomes visible (the fsync and
 * the shared-memory index update follow it), so an event starts a short burst of checks every
 * `burstPollMs`; a slow `idlePollMs` poll covers missed events and file systems without watch support.
 * Measured here: an idle connection costs ~4% of a core at a 2 ms poll and under 0.5% with this scheme.
 */
export class CommitWatcher {
  readonly #options: CommitWatcherOptions;
  #watcher: FSWatcher | undefined;
  #idleTimer: TimerHandle | undefined;
  #burstTimer: TimerHandle | undefined;
  #burstUntil = 0;
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
    const { clock } = this.#options;
    if (this.#idleTimer !== undefined) clock.clearTimeout(this.#idleTimer);
    if (this.#burstTimer !== undefined) clock.clearTimeout(this.#burstTimer);
    this.#idleTimer = this.#burstTimer = undefined;
  }

  #armIdle(): void {
    const { clock, idlePollMs, burstPollMs } = this.#options;
    // Without file events the fast interval is the only way to notice commits soon.
    const interval = this.#watchFailed ? Math.min(idlePollMs, burstPollMs * 2) : idlePollMs;
    this.#idleTimer = clock.setTimeout(() => {
      if (!this.#running) return;
      this.#options.check();
      if (this.#watcher === undefined) this.#watch();
      this.#armIdle();
    }, interval);
  }

  #watch(): void {
    try {
      const watcher = watch(this.#options.walPath, { persistent: false }, () => this.#onEvent());
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

  #onEvent(): void {
    if (!this.#running) return;
    const { clock, burstMs } = this.#options;
    this.#burstUntil = clock.now() + burstMs;
    if (this.#burstTimer !== undefined) return;
    this.#options.check();
    this.#armBurst();
  }

  #armBurst(): void {
    const { clock, burstPollMs } = this.#options;
    this.#burstTimer = clock.setTimeout(() => {
      this.#burstTimer = undefined;
      if (!this.#running) return;
      this.#options.check();
      if (clock.now() < this.#burstUntil) this.#armBurst();
    }, burstPollMs);
  }
}
