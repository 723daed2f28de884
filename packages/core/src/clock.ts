/**
 * Time as a dependency. Every time-based mechanism in meshkit reads time and arms timers through a
 * `Clock`, so tests drive it with {@link FakeClock} instead of sleeping.
 */

/** An opaque handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = object | number;

/** The source of time and timers. `now()` is milliseconds since the Unix epoch. */
export interface Clock {
  now(): number;
  /** Runs `callback` after `delayMs`. Real timers are `unref`'d: they never keep a process alive. */
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now()` and unref'd Node timers. */
export const systemClock: Clock = {
  now: Date.now,
  setTimeout(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    timer.unref();
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

interface FakeTimer {
  readonly id: number;
  readonly due: number;
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

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer: FakeTimer = { id: this.#nextId++, due: this.#now + Math.max(0, delayMs), callback };
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
 * Cleans up its timer and listener either way.
 */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
