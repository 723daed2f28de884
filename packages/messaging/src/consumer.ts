import {
  type CallContext,
  type CancelHandle,
  type Clock,
  createContext,
  ErrorCode,
  InvalidArgumentError,
  isAbortError,
  isMeshError,
  type Layer,
  MeshError,
  type Service,
  stack,
  systemClock,
} from '@meshkit/core';
import { checkInteger, checkString } from '@meshkit/core/internal';
import type { Broker, Delivery, GroupStart, Subscription } from './broker.ts';
import { messagingChannels } from './channels.ts';
import { type Codec, jsonCodec, type StandardSchemaV1 } from './codec.ts';
import { BatchDispatcher, type BatchHandler, enrol } from './consume/batch.ts';
import { deadlineSkipLayer } from './consume/deadline-skip.ts';
import { decodeLayer } from './consume/decode.ts';
import { deliveryLimitLayer } from './consume/delivery-limit.ts';
import { type Message, parseAttempt } from './consume/message.ts';
import {
  type ConsumeRetryOptions,
  type RetryDecision,
  resolveConsumeRetry,
  retryDeadLetterLayer,
} from './consume/retry-dead-letter.ts';
import {
  deadLetterFor,
  type HandlerResult,
  releaseSettlement,
  type Settlement,
} from './consume/settlement.ts';
import { headerNames } from './envelope.ts';
import { KeyScheduler } from './key-scheduler.ts';
import { checkPattern } from './pattern.ts';

export type { Message } from './consume/message.ts';

/** Options of {@link consume}. */
export interface ConsumeOptions<T = unknown> {
  /** Consumer group; members of a group share its messages, each group gets every message. */
  readonly group: string;
  /** Exact topics. At least one of `topics` and `patterns` is required. */
  readonly topics?: readonly string[];
  /** AMQP-style patterns: `user.*` one word, `user.#` zero or more. */
  readonly patterns?: readonly string[];
  /**
   * Where the group starts when it does not exist yet: `'now'` (default: what is published from now on)
   * or `'earliest'` (what the broker still retains). See `SubscribeOptions.from` for each adapter.
   */
  readonly from?: GroupStart;
  /**
   * The handler; resolve = done (ack), reject = failed (retry, then dead-letter). It may also resolve
   * with a settlement: `settle.deadLetter(why)` sends the message to the dead-letter topic at once,
   * `settle.retry(why, delayMs?)` retries it like a failure.
   */
  readonly handler: Service<Message<T>, HandlerResult>;
  /**
   * The user's own layers around the handler, in request order (the first sees the message first):
   * they run inside the consumer's retry / dead-letter layer, after decoding, the delivery limit and the
   * deadline skip, so what they throw is retried like the handler's failures. Defaults to none.
   */
  readonly layers?: readonly Layer<Message<T>, HandlerResult>[];
  /** Handlers running at once; messages with the same key never overlap. Defaults to 1. */
  readonly concurrency?: number;
  /** Unsettled deliveries the broker may hand over at once. Defaults to `max(100, 2 × concurrency)`. */
  readonly prefetch?: number;
  /** Handler retries. Defaults: 5 attempts; exponential backoff from 1 s, ×2, 60 s cap, equal jitter. */
  readonly retry?: ConsumeRetryOptions;
  /** Where dead letters go. Defaults to topic `dead-letter.<group>`. */
  readonly deadLetter?: { readonly topic?: string };
  /** Payload codec. Defaults to JSON. */
  readonly codec?: Codec;
  /** Schema checked on receive; a failing message is dead-lettered at once (`invalid-payload`). */
  readonly schema?: StandardSchemaV1<unknown, T>;
  /**
   * Dead-letter a message delivered this many times without being settled (its consumers keep dying
   * on it), where the broker reports delivery counts. Defaults to 10.
   */
  readonly maxDeliveries?: number;
  /** How long {@link Consumer.stop} waits for running handlers before aborting them, ms. Defaults to 10,000. */
  readonly stopTimeoutMs?: number;
  /** Clock for deadlines and stop timing. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** A running consumer. */
export interface Consumer {
  /** Handlers running now. */
  readonly active: number;
  /**
   * Stops gracefully: no new deliveries; messages not started are released; running handlers get
   * `stopTimeoutMs` to finish, then their signal aborts and whatever is still unsettled is released.
   * Resolves once every outcome is recorded at the broker. Idempotent.
   */
  stop(): Promise<void>;
  /** Live state: counters, and the pipeline's layers in request order with their own state. */
  describe(): Record<string, unknown>;
}

/**
 * Subscribes a handler to a group. Resolves once the group membership is durable.
 *
 * Each delivery runs through a pipeline of layers, in request order: `delivery-limit` → `decode` →
 * `deadline-skip` → `retry-dead-letter` → the user's `layers` → the handler. The layers decide how the
 * delivery is settled (a {@link Settlement}); the consumer then settles it at the broker and publishes
 * the retry / dead-letter events.
 *
 * @example
 * ```ts
 * import { exponentialBackoff } from '@meshkit/core';
 * import { sqliteBroker } from '@meshkit/messaging-sqlite';
 * declare function sendWelcomeMail(user: unknown): Promise<void>;
 * const broker = sqliteBroker({ path: 'var/events.db' });
 * const consumer = await consume(broker, {
 *   group: 'notifications',
 *   patterns: ['user.*'],
 *   handler: async (msg) => sendWelcomeMail(msg.data),
 *   concurrency: 8,
 *   retry: { maxAttempts: 5, backoff: exponentialBackoff({ baseDelayMs: 1_000, jitter: 'equal' }) },
 * });
 * process.on('SIGTERM', () => consumer.stop());
 * ```
 */
export async function consume<T = unknown>(broker: Broker, options: ConsumeOptions<T>): Promise<Consumer> {
  const common = checkCommon<T>('consume', options, (concurrency) => Math.max(100, 2 * concurrency));
  if (typeof options.handler !== 'function') {
    throw new InvalidArgumentError('consume.handler', 'must be a function', options.handler);
  }
  const userLayers = checkLayers(options.layers);
  const { concurrency } = common;
  return run(broker, common, {
    inner: stack(...userLayers).wrap(options.handler),
    userLayers,
    dispatcher: (handle, root) =>
      new KeyScheduler<Delivery>(
        concurrency,
        (d) => d.key,
        (d) => handle(d, root.ctx),
      ),
    describe: () => ({ concurrency }),
  });
}

/** Options of {@link consumeBatch}: those of {@link consume} but the handler takes a batch. */
export interface ConsumeBatchOptions<T = unknown>
  extends Omit<ConsumeOptions<T>, 'handler' | 'layers' | 'concurrency'> {
  /**
   * The batch handler: up to `maxMessages` messages in delivery order. Resolve with nothing = all done
   * (acked); resolve with a map from messages to settlements (`settle.retry`, `settle.deadLetter`) to
   * settle those differently (the rest are acked); reject = each message failed an attempt.
   */
  readonly handler: BatchHandler<T>;
  /** Most messages in one batch (integer >= 1). Defaults to 100. */
  readonly maxMessages?: number;
  /** How long a batch waits to fill after its first message arrived, ms. Defaults to 100. */
  readonly maxWaitMs?: number;
  /** Unsettled deliveries the broker may hand over at once (>= `maxMessages`). Defaults to `max(100, 2 × maxMessages)`. */
  readonly prefetch?: number;
}

/**
 * Subscribes a batch handler to a group: messages are collected into batches of at most `maxMessages`,
 * dispatched when full or `maxWaitMs` after the batch's first message arrived, one batch at a time (what
 * arrives meanwhile makes the next batch). It works on every {@link Broker}, with the guarantees of
 * {@link consume}: each message runs through the same layers (`delivery-limit`, `decode`,
 * `deadline-skip`, then the batch, then `retry-dead-letter`), so a message that cannot be decoded or is
 * past its deadline never reaches the batch, and each message is settled on its own: acked (committed)
 * only after the handler resolved, retried and dead-lettered on its own attempt count. Messages of one
 * key stay in delivery order. `stop()` releases what waits for a batch, gives the running batch
 * `stopTimeoutMs`, then aborts the handler's signal.
 *
 * @example
 * ```ts
 * import { settle } from '@meshkit/messaging';
 * import { sqliteBroker } from '@meshkit/messaging-sqlite';
 * declare function insertRows(rows: unknown[], signal: AbortSignal): Promise<{ refused: number[] }>;
 * const broker = sqliteBroker({ path: 'var/events.db' });
 * const consumer = await consumeBatch(broker, {
 *   group: 'warehouse',
 *   topics: ['order.placed'],
 *   maxMessages: 500,
 *   maxWaitMs: 200,
 *   handler: async (messages, ctx) => {
 *     const { refused } = await insertRows(messages.map((m) => m.data), ctx.signal);
 *     // Every message not listed is acked; these go to the dead-letter topic.
 *     return new Map(refused.map((i) => [messages[i]!, settle.deadLetter('row refused')]));
 *   },
 * });
 * process.on('SIGTERM', () => consumer.stop());
 * ```
 */
export async function consumeBatch<T = unknown>(
  broker: Broker,
  options: ConsumeBatchOptions<T>,
): Promise<Consumer> {
  const maxMessages = checkInteger('consumeBatch.maxMessages', options.maxMessages ?? 100, 1);
  const maxWaitMs = checkInteger('consumeBatch.maxWaitMs', options.maxWaitMs ?? 100, 0);
  const common = checkCommon<T>('consumeBatch', { ...options, concurrency: 1 }, () =>
    Math.max(100, 2 * maxMessages),
  );
  if (common.prefetch < maxMessages) {
    throw new InvalidArgumentError(
      'consumeBatch.prefetch',
      `must be at least maxMessages (${maxMessages}), or batches never fill`,
      options.prefetch,
    );
  }
  const handler = options.handler;
  if (typeof handler !== 'function') {
    throw new InvalidArgumentError('consumeBatch.handler', 'must be a function', handler);
  }
  let dispatcher: BatchDispatcher<T> | undefined;
  return run(broker, common, {
    inner: enrol,
    userLayers: [],
    dispatcher: (handle, root) => {
      dispatcher = new BatchDispatcher<T>({
        maxMessages,
        maxWaitMs,
        clock: common.clock,
        root,
        handler,
        handle,
      });
      return dispatcher;
    },
    describe: () => ({ maxMessages, maxWaitMs, batches: dispatcher?.batches ?? 0 }),
  });
}

/** The options both consumers share, checked. */
interface Common<T> {
  readonly group: string;
  readonly patterns: string[];
  readonly from: GroupStart | undefined;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly retry: RetryDecision;
  readonly deadLetterTopic: string;
  readonly maxDeliveries: number;
  readonly stopTimeoutMs: number;
  readonly codec: Codec;
  readonly schema: StandardSchemaV1<unknown, T> | undefined;
  readonly clock: Clock;
}

function checkCommon<T>(
  field: string,
  options: Omit<ConsumeOptions<T>, 'handler'>,
  defaultPrefetch: (concurrency: number) => number,
): Common<T> {
  const group = checkString(`${field}.group`, options.group);
  const patterns = [
    ...(options.topics ?? []).map((t, i) => checkPattern(`${field}.topics[${i}]`, t)),
    ...(options.patterns ?? []).map((p, i) => checkPattern(`${field}.patterns[${i}]`, p)),
  ];
  if (patterns.length === 0) {
    throw new InvalidArgumentError(`${field}.topics`, `or ${field}.patterns must name at least one topic`);
  }
  const concurrency = checkInteger(`${field}.concurrency`, options.concurrency ?? 1, 1);
  return {
    group,
    patterns,
    from: options.from,
    concurrency,
    prefetch: checkInteger(`${field}.prefetch`, options.prefetch ?? defaultPrefetch(concurrency), 1),
    retry: resolveConsumeRetry(options.retry, `${field}.retry`),
    deadLetterTopic: checkPattern(
      `${field}.deadLetter.topic`,
      options.deadLetter?.topic ?? `dead-letter.${group}`,
    ),
    maxDeliveries: checkInteger(`${field}.maxDeliveries`, options.maxDeliveries ?? 10, 1),
    stopTimeoutMs: checkInteger(`${field}.stopTimeoutMs`, options.stopTimeoutMs ?? 10_000, 0),
    codec: options.codec ?? jsonCodec,
    schema: options.schema,
    clock: options.clock ?? systemClock,
  };
}

/** Hands deliveries to the pipeline: key scheduling for `consume()`, batching for `consumeBatch()`. */
interface Dispatcher {
  readonly active: number;
  readonly queued: number;
  push(delivery: Delivery): void;
  takeQueued(): Delivery[];
  whenIdle(): Promise<void>;
}

interface Engine<T> {
  /** The end of each delivery's pipeline: the user's layers and handler, or the batch's enrolment. */
  readonly inner: Service<Message<T>, HandlerResult>;
  readonly userLayers: readonly Layer<Message<T>, HandlerResult>[];
  readonly dispatcher: (
    handle: (delivery: Delivery, ctx: CallContext) => Promise<void>,
    root: CancelHandle,
  ) => Dispatcher;
  readonly describe: () => Record<string, unknown>;
}

/** The consumer both entry points share: pipeline, settlement at the broker, subscription and stop. */
async function run<T>(broker: Broker, common: Common<T>, engine: Engine<T>): Promise<Consumer> {
  const { group, patterns, prefetch, retry, deadLetterTopic, maxDeliveries, stopTimeoutMs, codec, clock } =
    common;
  const limit = deliveryLimitLayer(maxDeliveries);
  const decode = decodeLayer<T>({ group, codec, schema: common.schema });
  const deadline = deadlineSkipLayer<T>();
  const retryOrDeadLetter = retryDeadLetterLayer<T>(retry);
  const pipeline: Service<Delivery, Settlement> = limit.wrap(
    decode.wrap(deadline.wrap(retryOrDeadLetter.wrap(engine.inner))),
  );
  const layers: readonly Layer<never, unknown, never, unknown>[] = [
    limit,
    decode,
    deadline,
    retryOrDeadLetter,
    ...engine.userLayers,
  ] as never;

  // One cancellation scope for every handler: aborted when stop() runs out of patience.
  const root: CancelHandle = createContext({ clock }).withCancel();
  // Settlements sent to the broker and not yet answered, and who waits for there to be none.
  let settling = 0;
  let settledWaiters: (() => void)[] = [];
  let stopping = false;
  let stopped: Promise<void> | undefined;
  let handled = 0;
  let retried = 0;
  let deadLettered = 0;

  const untrack = (): void => {
    if (--settling > 0 || settledWaiters.length === 0) return;
    const waiters = settledWaiters;
    settledWaiters = [];
    for (const resolve of waiters) resolve();
  };
  const whenSettled = (): Promise<void> =>
    settling === 0 ? Promise.resolve() : new Promise((resolve) => settledWaiters.push(resolve));
  const track = (what: Promise<void>, delivery: Delivery): void => {
    settling++;
    const topic = delivery.topic;
    what.then(untrack, (error: unknown) => {
      if (messagingChannels.settleFailed.hasSubscribers) {
        messagingChannels.settleFailed.publish({ group, topic, error });
      }
      untrack();
    });
  };

  const deadLetter = (
    delivery: Delivery,
    settlement: Settlement & { kind: 'dead-letter' },
  ): Promise<void> => {
    deadLettered++;
    const { reason, error } = settlement;
    const headers: Record<string, string> = {
      [headerNames.deadLetterReason]: reason,
      [headerNames.error]: errorText(error),
      [headerNames.errorCode]: errorCode(error),
      [headerNames.originalTopic]: delivery.headers[headerNames.originalTopic] ?? delivery.topic,
      [headerNames.deadLetteredAt]: new Date(clock.now()).toISOString(),
      [headerNames.deadLetterAttempts]: String(parseAttempt(delivery.headers[headerNames.attempt])),
      // The dead-letter topic's consumer starts counting its own attempts from 1.
      [headerNames.attempt]: '1',
    };
    if (messagingChannels.deadLetter.hasSubscribers) {
      messagingChannels.deadLetter.publish({
        group,
        topic: delivery.topic,
        id: delivery.headers[headerNames.id],
        reason,
        deadLetterTopic,
        error,
      });
    }
    return delivery.deadLetter({ topic: deadLetterTopic, headers });
  };

  const retryLater = (delivery: Delivery, delayMs: number, error: unknown): Promise<void> => {
    const attempt = parseAttempt(delivery.headers[headerNames.attempt]);
    retried++;
    if (messagingChannels.retry.hasSubscribers) {
      messagingChannels.retry.publish({
        group,
        topic: delivery.topic,
        id: delivery.headers[headerNames.id],
        attempt,
        delayMs,
        error,
      });
    }
    const headers = {
      [headerNames.attempt]: String(attempt + 1),
      [headerNames.error]: errorText(error),
      [headerNames.errorCode]: errorCode(error),
    };
    return delivery.retryLater({ delayMs, headers });
  };

  /** Carries out the pipeline's decision at the broker. */
  const settleAtBroker = (delivery: Delivery, decided: Settlement): void => {
    let settlement = decided;
    // A handler that failed because stop() cancelled it, or while stopping, did not fail the message.
    if (
      stopping &&
      (settlement.kind === 'retry' || settlement.kind === 'dead-letter') &&
      (isAbortError(settlement.error) || root.ctx.aborted)
    ) {
      settlement = releaseSettlement;
    }
    switch (settlement.kind) {
      case 'ack':
        handled++;
        track(delivery.ack(), delivery);
        return;
      case 'retry':
        track(retryLater(delivery, settlement.delayMs ?? 0, settlement.error), delivery);
        return;
      case 'dead-letter':
        track(deadLetter(delivery, settlement), delivery);
        return;
      case 'release':
        track(delivery.release(), delivery);
        return;
    }
  };

  const handle = (delivery: Delivery, ctx: CallContext): Promise<void> => {
    if (stopping) {
      track(delivery.release(), delivery);
      return Promise.resolve();
    }
    let decided: Promise<Settlement>;
    try {
      decided = pipeline(delivery, ctx);
    } catch (error) {
      decided = Promise.reject(error);
    }
    return decided.then(
      (settlement) => settleAtBroker(delivery, settlement),
      // The consumer's own layers never reject; this is a defect, and nothing may loop on it.
      (error: unknown) => settleAtBroker(delivery, deadLetterFor('handler-failed', error)),
    );
  };

  const scheduler = engine.dispatcher(handle, root);
  const subscription: Subscription = await broker.subscribe({
    group,
    patterns,
    prefetch,
    ...(common.from === undefined ? {} : { from: common.from }),
    onDelivery: (delivery) => {
      if (stopping) track(delivery.release(), delivery);
      else scheduler.push(delivery);
    },
  });

  const stop = async (): Promise<void> => {
    stopping = true;
    await subscription.stop();
    for (const delivery of scheduler.takeQueued()) track(delivery.release(), delivery);
    if (!(await within(clock, scheduler.whenIdle(), stopTimeoutMs))) {
      root.cancel(new MeshError(ErrorCode.CLOSED, `consumer ${group} stopped after ${stopTimeoutMs} ms`));
      // Handlers that honour their signal end now; the rest are released by close() below.
      await within(clock, scheduler.whenIdle(), Math.min(1_000, stopTimeoutMs));
    }
    await whenSettled();
    await subscription.close();
  };

  return {
    get active() {
      return scheduler.active;
    },
    stop() {
      stopped ??= stop();
      return stopped;
    },
    describe() {
      return {
        group,
        patterns,
        ...engine.describe(),
        prefetch,
        active: scheduler.active,
        queued: scheduler.queued,
        handled,
        retried,
        deadLettered,
        stopping,
        layers: layers.map((l) => ({ name: l.name, ...(l.describe?.() ?? {}) })),
      };
    },
  };
}

/**
 * Resolves `true` if `promise` settles within `ms` on `clock`, else `false`. The timer keeps the process
 * alive: someone awaits the stop it bounds, and a handler that ignores its signal may hold nothing else.
 */
function within(clock: Clock, promise: Promise<void>, ms: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = clock.setTimeout(() => resolve(false), ms, { ref: true });
    void promise.then(() => {
      clock.clearTimeout(timer);
      resolve(true);
    });
  });
}

function checkLayers<T>(
  layers: readonly Layer<Message<T>, HandlerResult>[] | undefined,
): Layer<Message<T>, HandlerResult>[] {
  if (layers === undefined) return [];
  if (!Array.isArray(layers)) throw new InvalidArgumentError('consume.layers', 'must be an array', layers);
  return layers.map((l, i) => {
    if (typeof l !== 'object' || l === null || typeof l.wrap !== 'function' || typeof l.name !== 'string') {
      throw new InvalidArgumentError(`consume.layers[${i}]`, 'must be a Layer (name and wrap())', l);
    }
    return l;
  });
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 1_000 ? `${text.slice(0, 997)}...` : text;
}

function errorCode(error: unknown): string {
  if (isMeshError(error)) return error.code;
  if (error instanceof Error) return error.name;
  return typeof error;
}
