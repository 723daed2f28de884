import {
  type CallContext,
  type CancelHandle,
  type Clock,
  type ContextKey,
  contextKey,
  type Service,
  type TimerHandle,
} from '@meshkit/core';
import type { Delivery } from '../broker.ts';
import type { Message } from './message.ts';
import type { HandlerResult, Settlement } from './settlement.ts';

/**
 * What a batch handler resolves with: nothing (every message of the batch is done: acked), or a map from
 * the messages that are not done to their settlement (`settle.retry(why)`, `settle.deadLetter(why)`);
 * the messages it does not list are acked.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing is the common case.
export type BatchResult<T = unknown> = void | ReadonlyMap<Message<T>, Settlement>;

/**
 * A batch handler: up to `maxMessages` messages in delivery order, and a context whose signal aborts when
 * `stop()` runs out of patience. Resolve = done (per the {@link BatchResult}); reject = every message of
 * the batch failed an attempt (retried with backoff, then dead-lettered, each on its own count).
 */
export type BatchHandler<T = unknown> = Service<readonly Message<T>[], BatchResult<T>>;

/** One delivery of a running batch, from its arrival until its pipeline reached the batch handler (or not). */
interface Entry<T> {
  message: Message<T> | undefined;
  resolve: ((result: HandlerResult) => void) | undefined;
  reject: ((error: unknown) => void) | undefined;
  /** Called once: the delivery reached the batch, or was settled before it (undecodable, past deadline). */
  done: () => void;
}

const entryKey: ContextKey<Entry<unknown> | undefined> = contextKey('meshkit.messaging.batchEntry');

/**
 * The handler at the end of each delivery's pipeline in a batch consumer: it does not handle the message,
 * it enrols it in the batch its delivery belongs to and answers with the message's share of the batch
 * handler's outcome. The layers before it (delivery limit, decode, deadline skip) and after it (retry and
 * dead-letter) therefore work per message exactly as for `consume()`.
 */
export function enrol<T>(message: Message<T>, ctx: CallContext): Promise<HandlerResult> {
  const entry = ctx.get(entryKey) as Entry<T> | undefined;
  if (entry === undefined) return Promise.reject(new Error('a batch message outside of a batch'));
  entry.message = message;
  const answer = new Promise<HandlerResult>((resolve, reject) => {
    entry.resolve = resolve;
    entry.reject = reject;
  });
  entry.done();
  return answer;
}

/** Options of {@link BatchDispatcher}. */
export interface BatchDispatcherOptions<T> {
  readonly maxMessages: number;
  readonly maxWaitMs: number;
  readonly clock: Clock;
  readonly root: CancelHandle;
  readonly handler: BatchHandler<T>;
  /** Runs a delivery's pipeline (ending in {@link enrol}) in `ctx` and settles it at the broker. */
  readonly handle: (delivery: Delivery, ctx: CallContext) => Promise<void>;
}

/**
 * Collects deliveries into batches of at most `maxMessages`, waiting at most `maxWaitMs` after the first
 * one arrived, and runs one batch at a time: what arrives meanwhile makes the next batch. One batch at a
 * time, in delivery order, keeps a key's messages in order as `consume()` does.
 */
export class BatchDispatcher<T> {
  readonly #options: BatchDispatcherOptions<T>;
  #waiting: Delivery[] = [];
  /** When the oldest waiting delivery arrived (clock ms). */
  #firstAt = 0;
  #timer: TimerHandle | undefined;
  #running = 0;
  #batches = 0;
  #idle: (() => void)[] = [];

  constructor(options: BatchDispatcherOptions<T>) {
    this.#options = options;
  }

  /** Messages in the batch being handled. */
  get active(): number {
    return this.#running;
  }

  /** Deliveries waiting for the next batch. */
  get queued(): number {
    return this.#waiting.length;
  }

  /** Batches handed to the handler so far. */
  get batches(): number {
    return this.#batches;
  }

  push(delivery: Delivery): void {
    if (this.#waiting.length === 0) this.#firstAt = this.#options.clock.now();
    this.#waiting.push(delivery);
    // A batch that is not full starts from a timer at the earliest (even with `maxWaitMs` 0): what the
    // broker hands over in one burst goes into one batch.
    if (this.#waiting.length >= this.#options.maxMessages) this.#next();
    else this.#arm();
  }

  /** Removes and returns the deliveries waiting for a batch (graceful stop hands them back). */
  takeQueued(): Delivery[] {
    this.#cancelTimer();
    const out = this.#waiting;
    this.#waiting = [];
    return out;
  }

  /** Resolves when no batch is running. */
  whenIdle(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Starts a batch if one is due (full, or its first message waited `maxWaitMs`), else times the wait. */
  #next(): void {
    if (this.#running > 0 || this.#waiting.length === 0) return;
    const { maxMessages, maxWaitMs, clock } = this.#options;
    if (this.#waiting.length < maxMessages && clock.now() - this.#firstAt < maxWaitMs) {
      this.#arm();
      return;
    }
    this.#cancelTimer();
    const batch = this.#waiting.splice(0, maxMessages);
    if (this.#waiting.length > 0) this.#firstAt = clock.now();
    void this.#run(batch);
  }

  /** Times the wait of the oldest waiting delivery, unless a batch runs (its end looks again). */
  #arm(): void {
    if (this.#timer !== undefined || this.#running > 0) return;
    const { maxWaitMs, clock } = this.#options;
    this.#timer = clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#next();
      },
      Math.max(0, this.#firstAt + maxWaitMs - clock.now()),
    );
  }

  #cancelTimer(): void {
    if (this.#timer === undefined) return;
    this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #run(deliveries: Delivery[]): Promise<void> {
    const { root, handle } = this.#options;
    this.#running = deliveries.length;
    this.#batches++;
    let left = deliveries.length;
    let allIn: () => void = () => {};
    const enrolled = new Promise<void>((resolve) => {
      allIn = resolve;
    });
    const entries: Entry<T>[] = [];
    const settled: Promise<void>[] = [];
    for (const delivery of deliveries) {
      let counted = false;
      const entry: Entry<T> = {
        message: undefined,
        resolve: undefined,
        reject: undefined,
        done: () => {
          if (counted) return;
          counted = true;
          if (--left === 0) allIn();
        },
      };
      entries.push(entry);
      // A delivery settled before reaching the batch (undecodable, past its deadline) counts as in.
      settled.push(handle(delivery, root.ctx.set(entryKey, entry as Entry<unknown>)).finally(entry.done));
    }
    await enrolled;
    const inBatch = entries.filter((e) => e.message !== undefined);
    if (inBatch.length > 0) {
      try {
        const result = await this.#call(inBatch.map((e) => e.message!));
        const listed = result instanceof Map ? (result as ReadonlyMap<Message<T>, Settlement>) : undefined;
        for (const e of inBatch) e.resolve!(listed?.get(e.message!));
      } catch (error) {
        for (const e of inBatch) e.reject!(error);
      }
    }
    await Promise.all(settled);
    this.#running = 0;
    if (this.#idle.length > 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
    this.#next();
  }

  /** The user's handler; a plain-JavaScript one may throw or return a value instead of a promise. */
  #call(messages: readonly Message<T>[]): Promise<BatchResult<T>> {
    try {
      return Promise.resolve(this.#options.handler(messages, this.#options.root.ctx));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
