/**
 * Time as a dependency. Every time-based mechanism in meshkit reads time and arms timers through a
 * `Clock`, so tests drive it with {@link FakeClock} instead of sleeping.
 */

/** An opaque handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = object | number;

/**
 * How a timer relates to the process's life.
 *
 * A timer that a pending call waits on (retry backoff, a hedge delay, the wait for the first endpoints,
 * a rate-limit wait, a publisher's batching) passes `ref: true`: like a plain Node timer it keeps the
 * process alive, so `await client.get('/x')` at the top level of a script waits for the retry instead of
 * exiting with "unsettled top-level await". Background work (heartbeats, health checks, watches, sweeps,
 * breaker clocks, and deadline timers that only guard a call already holding a socket) leaves it unset:
 * such a timer never keeps a process alive on its own.
 */
export interface TimerOptions {
  /** `true`: the timer keeps the process alive until it fires or is cleared. Default `false`. */
  readonly ref?: boolean;
}

/** The source of time and timers. `now()` is milliseconds since the Unix epoch. */
export interface Clock {
  now(): number;
  /**
   * Runs `callback` after `delayMs`. A real timer keeps the process alive only when `options.ref` is
   * `true` (see {@link TimerOptions}); by default it is background work and `unref`'d.
   */
  setTimeout(callback: () => void, delayMs: number, options?: TimerOptions): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now()` and Node timers, `unref`'d unless scheduled with `{ ref: true }`. */
export const systemClock: Clock = {
  now: Date.now,
  setTimeout(callback, delayMs, options) {
    const timer = setTimeout(callback, delayMs);
    if (options?.ref !== true) timer.unref();
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

interface FakeTimer {
  readonly id: number;
  readonly due: number;
  readonly ref: boolean;
  callback: (() => void) | undefined;
}

/**
 * A manual clock for tests. Time moves only when the test says so; {@link FakeClock.advance} fires due
 * timers in order and lets promise callbacks settle between them, so async state machines run exactly
 * as they would in real time.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * const done = sleep(clock, 100);
 * await clock.advance(100);   // the sleep resolves here
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: FakeTimer[] = [];

  /** @param startMs the initial `now()`; defaults to 1,700,000,000,000 (a fixed, realistic epoch). */
  constructor(startMs = 1_700_000_000_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delayMs: number, options?: TimerOptions): TimerHandle {
    const timer: FakeTimer = {
      id: this.#nextId++,
      due: this.#now + Math.max(0, delayMs),
      ref: options?.ref === true,
      callback,
    };
    // Keep timers sorted by due time, then by creation, as Node fires them.
    let i = this.#timers.length;
    while (i > 0 && this.#timers[i - 1]!.due > timer.due) i--;
    this.#timers.splice(i, 0, timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const i = this.#timers.indexOf(handle as FakeTimer);
    if (i >= 0) this.#timers.splice(i, 1);
  }

  /** Number of armed timers; `0` after a call settles proves nothing was left behind. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /**
   * Number of armed timers scheduled with `{ ref: true }`: the ones that would keep a real process
   * alive. A test of a pending call checks it is above `0` while the call waits.
   */
  get refTimers(): number {
    return this.#timers.reduce((n, t) => n + (t.ref ? 1 : 0), 0);
  }

  /** Lets queued promise callbacks (and the work they start) run without moving time. */
  async flush(): Promise<void> {
    for (let i = 0; i < 8; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order, with a flush after each. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await this.flush();
    for (;;) {
      const next = this.#timers[0];
      if (next === undefined || next.due > target) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, next.due);
      next.callback?.();
      await this.flush();
    }
    this.#now = target;
    await this.flush();
  }

  /** Fires timers until none is left (bounded by `limit` to catch timers that re-arm forever). */
  async runAll(limit = 10_000): Promise<void> {
    for (let i = 0; i < limit; i++) {
      const next = this.#timers[0];
      if (next === undefined) return;
      await this.advance(next.due - this.#now);
    }
    throw new Error(`FakeClock.runAll: still ${this.#timers.length} timers after ${limit} rounds`);
  }
}

/**
 * Resolves after `delayMs` on `clock`, or rejects with `signal`'s reason as soon as it aborts.
 * Cleans up its timer and listener either way. `options` is passed to {@link Clock.setTimeout}: a
 * pending call's wait passes `{ ref: true }`.
 */
export function sleep(
  clock: Clock,
  delayMs: number,
  signal?: AbortSignal,
  options?: TimerOptions,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      delayMs,
      options,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
