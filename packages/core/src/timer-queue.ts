import type { Clock, TimerHandle } from './clock.ts';

/**
 * A shared structure for many short-lived timeouts.
 *
 * Arming and clearing a Node timer for every call costs about a microsecond, more than a whole
 * resilient call should. Timeouts of one layer all have the same length, so entries scheduled on one
 * queue fall due in the order they were added: a FIFO per duration is already sorted. Scheduling is an
 * append, cancelling is a flag, and one real timer per duration is armed for the oldest live entry. A
 * steady stream of calls that finish in time costs one real timer firing per timeout period, not one
 * timer per call.
 */

/** A scheduled timeout; {@link TimerEntry.cancel} is O(1) and idempotent. */
export interface TimerEntry {
  cancel(): void;
}

class Entry implements TimerEntry {
  readonly due: number;
  callback: (() => void) | undefined;
  readonly lane: Lane;
  constructor(due: number, callback: () => void, lane: Lane) {
    this.due = due;
    this.callback = callback;
    this.lane = lane;
  }
  cancel(): void {
    if (this.callback === undefined) return;
    this.callback = undefined;
    this.lane.trimHead();
  }
}

class Lane {
  readonly #clock: Clock;
  /** Called when the lane's timer fired and left it empty, so the queue can forget an idle delay. */
  readonly #onIdle: (lane: Lane) => void;
  /**
   * Live entries are `entries[head..tail)`. The array is reused, never truncated: emptying it with
   * `length = 0` gives up its backing store, and the next push reallocates it (once per call under a
   * steady stream of calls that each finish in time).
   */
  #entries: (Entry | undefined)[] = [];
  #head = 0;
  #tail = 0;
  #handle: TimerHandle | undefined;
  #armedFor = Infinity;

  constructor(clock: Clock, onIdle: (lane: Lane) => void) {
    this.#clock = clock;
    this.#onIdle = onIdle;
  }

  add(entry: Entry, now: number): void {
    this.#entries[this.#tail++] = entry;
    if (this.#handle === undefined) this.#arm(entry.due, now);
  }

  #arm(due: number, now: number): void {
    this.#armedFor = due;
    this.#handle = this.#clock.setTimeout(this.#fire, Math.max(0, due - now));
  }

  readonly #fire = (): void => {
    this.#handle = undefined;
    this.#armedFor = Infinity;
    const now = this.#clock.now();
    const entries = this.#entries;
    while (this.#head < this.#tail) {
      const entry = entries[this.#head]!;
      if (entry.callback === undefined) {
        entries[this.#head++] = undefined;
        continue;
      }
      if (entry.due > now) break;
      entries[this.#head++] = undefined;
      const callback = entry.callback;
      entry.callback = undefined;
      callback();
    }
    this.#compact();
    const next = entries[this.#head];
    if (this.#head < this.#tail && next !== undefined && this.#handle === undefined) {
      this.#arm(next.due, this.#clock.now());
    } else if (this.#head === this.#tail && this.#handle === undefined) {
      this.#onIdle(this);
    }
  };

  /** Drops cancelled entries at the head so a steady stream of completed calls keeps the lane short. */
  trimHead(): void {
    const entries = this.#entries;
    while (this.#head < this.#tail && entries[this.#head]!.callback === undefined) {
      entries[this.#head++] = undefined;
    }
    this.#compact();
  }

  #compact(): void {
    if (this.#head === this.#tail) {
      this.#head = 0;
      this.#tail = 0;
      // Keep a small array's backing store for reuse, but give back what a burst made large.
      if (this.#entries.length > 1024) this.#entries = [];
    } else if (this.#head > 1024 && this.#head * 2 > this.#tail) {
      this.#entries = this.#entries.slice(this.#head, this.#tail);
      this.#tail -= this.#head;
      this.#head = 0;
    }
  }

  get size(): number {
    return this.#tail - this.#head;
  }

  get armedFor(): number {
    return this.#armedFor;
  }
}

/**
 * Schedules callbacks after fixed delays using one real timer per distinct delay.
 *
 * @example
 * ```ts
 * const timers = new TimerQueue(systemClock);
 * const entry = timers.schedule(250, () => controller.abort());
 * await work;
 * entry.cancel();
 * ```
 */
export class TimerQueue {
  readonly clock: Clock;
  /**
   * Lanes by delay. A lane whose timer fires with nothing left is dropped, so delays derived from
   * deadlines (a different length on every call) do not accumulate lanes.
   */
  readonly #lanes = new Map<number, Lane>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Number of delays with a lane right now (idle ones are dropped when their timer fires). */
  get lanes(): number {
    return this.#lanes.size;
  }

  /**
   * Runs `callback` once `delayMs` has passed, unless the returned entry is cancelled first. A caller
   * that has just read the clock passes that reading as `nowMs`, saving a second read on its hot path.
   */
  schedule(delayMs: number, callback: () => void, nowMs: number = this.clock.now()): TimerEntry {
    const delay = delayMs > 0 ? Math.ceil(delayMs) : 0;
    let lane = this.#lanes.get(delay);
    if (lane === undefined) {
      lane = new Lane(this.clock, (idle) => {
        if (this.#lanes.get(delay) === idle) this.#lanes.delete(delay);
      });
      this.#lanes.set(delay, lane);
    }
    const entry = new Entry(nowMs + delay, callback, lane);
    lane.add(entry, nowMs);
    return entry;
  }

  /** Entries not yet fired or trimmed, across all delays (cancelled ones linger until trimmed). */
  get size(): number {
    let total = 0;
    for (const lane of this.#lanes.values()) total += lane.size;
    return total;
  }
}

const queues = new WeakMap<Clock, TimerQueue>();

/** The {@link TimerQueue} shared by every layer that uses `clock` (one per clock, created on demand). */
export function timerQueueFor(clock: Clock): TimerQueue {
  let queue = queues.get(clock);
  if (queue === undefined) {
    queue = new TimerQueue(clock);
    queues.set(clock, queue);
  }
  return queue;
}
