import type { Clock, TimerHandle, TimerOptions } from './clock.ts';

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

// The queue's bookkeeping on a task, under symbols only this module holds, so no subclass field can
// clash with it. Not declared on the class: the public type stays free of it.
const laneKey: unique symbol = Symbol('meshkit.timer.lane');
const dueKey: unique symbol = Symbol('meshkit.timer.due');

interface Scheduled {
  /** The lane holding the task while it is scheduled; `undefined` once fired or cancelled. */
  [laneKey]: Lane | undefined;
  /**
   * When the task falls due, in ms after its lane's origin: a small integer, which a field holds
   * unboxed, where an epoch time (about 1.7e12) would cost a heap number per task. (After about 24 days
   * of a lane's life the offset outgrows that range and is boxed again; nothing else changes.)
   */
  [dueKey]: number;
}

function scheduled(task: TimerTask): Scheduled {
  return task as unknown as Scheduled;
}

/**
 * A timer entry that is also its owner's per-call state. A hot path that keeps an object per call
 * anyway extends this, implements {@link TimerTask.fire}, and hands the object itself to
 * {@link TimerQueue.add}: one object per call where {@link TimerQueue.schedule} needs an entry and a
 * callback closure.
 *
 * @example
 * ```ts
 * declare function work(signal: AbortSignal): Promise<void>;
 * class Expiry extends TimerTask {
 *   readonly controller = new AbortController();
 *   fire(): void {
 *     this.controller.abort();
 *   }
 * }
 * const expiry = new Expiry();
 * timerQueueFor(systemClock).add(expiry, 250);
 * await work(expiry.controller.signal);
 * expiry.cancel();
 * ```
 */
export abstract class TimerTask implements TimerEntry {
  constructor() {
    // Assigned here rather than by field initializers: a subclass constructed through initializers in
    // its base takes about twice as long on Node 24, and a timeout constructs one task per call.
    const state = scheduled(this);
    state[laneKey] = undefined;
    state[dueKey] = 0;
  }

  /** Runs once when the task falls due, unless it was cancelled first. */
  abstract fire(): void;

  /** Drops the task if it is still scheduled: O(1), and later calls do nothing. */
  cancel(): void {
    const state = scheduled(this);
    const lane = state[laneKey];
    if (lane === undefined) return;
    state[laneKey] = undefined;
    lane.trimHead();
  }
}

/** What {@link TimerQueue.schedule} arms: a task that runs a callback. */
class CallbackTask extends TimerTask {
  // `declare`, assigned in the constructor: no field initializer (see TimerTask's constructor).
  declare private readonly callback: () => void;
  constructor(callback: () => void) {
    super();
    this.callback = callback;
  }
  fire(): void {
    this.callback();
  }
}

class Lane {
  readonly #clock: Clock;
  readonly #timerOptions: TimerOptions | undefined;
  /** Called when the lane's timer fired and left it empty, so the queue can forget an idle delay. */
  readonly #onIdle: (lane: Lane) => void;
  /** The time tasks' due offsets are counted from. */
  readonly #origin: number;
  /**
   * Live tasks are `tasks[head..tail)`. The array is reused, never truncated: emptying it with
   * `length = 0` gives up its backing store, and the next push reallocates it (once per call under a
   * steady stream of calls that each finish in time).
   */
  #tasks: (TimerTask | undefined)[] = [];
  #head = 0;
  #tail = 0;
  #handle: TimerHandle | undefined;
  #armedFor = Infinity;

  constructor(
    clock: Clock,
    onIdle: (lane: Lane) => void,
    origin: number,
    timerOptions: TimerOptions | undefined,
  ) {
    this.#clock = clock;
    this.#timerOptions = timerOptions;
    this.#onIdle = onIdle;
    this.#origin = origin;
  }

  add(task: TimerTask, due: number, now: number): void {
    const state = scheduled(task);
    state[laneKey] = this;
    state[dueKey] = due - this.#origin;
    this.#tasks[this.#tail++] = task;
    if (this.#handle === undefined) this.#arm(due, now);
  }

  #arm(due: number, now: number): void {
    this.#armedFor = due;
    this.#handle = this.#clock.setTimeout(this.#fire, Math.max(0, due - now), this.#timerOptions);
  }

  readonly #fire = (): void => {
    this.#handle = undefined;
    this.#armedFor = Infinity;
    const now = this.#clock.now() - this.#origin;
    const tasks = this.#tasks;
    while (this.#head < this.#tail) {
      const task = tasks[this.#head]!;
      const state = scheduled(task);
      if (state[laneKey] !== this) {
        tasks[this.#head++] = undefined;
        continue;
      }
      if (state[dueKey] > now) break;
      tasks[this.#head++] = undefined;
      state[laneKey] = undefined;
      task.fire();
    }
    this.#compact();
    const next = tasks[this.#head];
    if (this.#head < this.#tail && next !== undefined && this.#handle === undefined) {
      this.#arm(this.#origin + scheduled(next)[dueKey], this.#clock.now());
    } else if (this.#head === this.#tail && this.#handle === undefined) {
      this.#onIdle(this);
    }
  };

  /** Drops cancelled tasks at the head so a steady stream of completed calls keeps the lane short. */
  trimHead(): void {
    const tasks = this.#tasks;
    while (this.#head < this.#tail && scheduled(tasks[this.#head]!)[laneKey] !== this) {
      tasks[this.#head++] = undefined;
    }
    this.#compact();
  }

  #compact(): void {
    if (this.#head === this.#tail) {
      this.#head = 0;
      this.#tail = 0;
      // Keep a small array's backing store for reuse, but give back what a burst made large.
      if (this.#tasks.length > 1024) this.#tasks = [];
    } else if (this.#head > 1024 && this.#head * 2 > this.#tail) {
      this.#tasks = this.#tasks.slice(this.#head, this.#tail);
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
 * declare function work(signal: AbortSignal): Promise<void>;
 * const controller = new AbortController();
 * const timers = new TimerQueue(systemClock);
 * const entry = timers.schedule(250, () => controller.abort());
 * await work(controller.signal);
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
  /**
   * The lane used last, and its delay: a layer's calls mostly share one delay, and this skips the map
   * lookup (a tenth of the cost of scheduling) for them. Cleared when that lane is dropped.
   */
  #lastDelay = -1;
  #lastLane: Lane | undefined = undefined;

  readonly #timerOptions: TimerOptions | undefined;

  /**
   * @param options passed to `clock.setTimeout` for every lane's timer: `{ ref: true }` for a queue whose
   *   entries a pending call waits on (see {@link TimerOptions}); default background (`unref`'d).
   */
  constructor(clock: Clock, options?: TimerOptions) {
    this.clock = clock;
    this.#timerOptions = options;
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
    const task = new CallbackTask(callback);
    this.add(task, delayMs, nowMs);
    return task;
  }

  /**
   * Runs `task.fire()` once `delayMs` has passed, unless `task.cancel()` is called first: `schedule()`
   * for a caller whose per-call state is the task itself (see {@link TimerTask}). A task is on the queue
   * at most once: add it again only after it fired or was cancelled.
   */
  add(task: TimerTask, delayMs: number, nowMs?: number): void {
    // The common case first, kept small because every timeout's hot path inlines it: the same delay
    // as the last add, with the time already read.
    if (delayMs === this.#lastDelay && nowMs !== undefined) this.#lastLane!.add(task, nowMs + delayMs, nowMs);
    else this.#addSlow(task, delayMs, nowMs ?? this.clock.now());
  }

  #addSlow(task: TimerTask, delayMs: number, nowMs: number): void {
    const delay = delayMs > 0 ? Math.ceil(delayMs) : 0;
    this.#laneFor(delay, nowMs).add(task, nowMs + delay, nowMs);
  }

  #laneFor(delay: number, nowMs: number): Lane {
    let lane = this.#lanes.get(delay);
    if (lane === undefined) {
      lane = new Lane(
        this.clock,
        (idle) => {
          if (this.#lanes.get(delay) !== idle) return;
          this.#lanes.delete(delay);
          if (this.#lastLane === idle) {
            this.#lastDelay = -1;
            this.#lastLane = undefined;
          }
        },
        nowMs,
        this.#timerOptions,
      );
      this.#lanes.set(delay, lane);
    }
    this.#lastDelay = delay;
    this.#lastLane = lane;
    return lane;
  }

  /** Entries not yet fired or trimmed, across all delays (cancelled ones linger until trimmed). */
  get size(): number {
    let total = 0;
    for (const lane of this.#lanes.values()) total += lane.size;
    return total;
  }
}

const queues = new WeakMap<Clock, TimerQueue>();
const refQueues = new WeakMap<Clock, TimerQueue>();

/**
 * The {@link TimerQueue} shared by every layer that uses `clock` (one per clock, created on demand).
 * With `{ ref: true }`, the separate shared queue whose timers keep the process alive (for waits a
 * pending call depends on, such as a hedge delay); by default the background queue (deadlines).
 */
export function timerQueueFor(clock: Clock, options?: TimerOptions): TimerQueue {
  const ref = options?.ref === true;
  const map = ref ? refQueues : queues;
  let queue = map.get(clock);
  if (queue === undefined) {
    queue = new TimerQueue(clock, ref ? { ref: true } : undefined);
    map.set(clock, queue);
  }
  return queue;
}
