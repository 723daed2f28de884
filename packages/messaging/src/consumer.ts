import {
  type CallContext,
  type CancelHandle,
  type Clock,
  checkInteger,
  checkString,
  createContext,
  ErrorCode,
  InvalidArgumentError,
  isAbortError,
  isMeshError,
  MeshError,
  type Service,
  systemClock,
} from '@meshkit/core';
import type { Broker, Delivery, Subscription } from './broker.ts';
import { messagingChannels } from './channels.ts';
import { type Codec, jsonCodec, type StandardSchemaV1, validate } from './codec.ts';
import { type DeadLetterReason, decodeAttributes, headerNames } from './envelope.ts';
import { KeyScheduler } from './key-scheduler.ts';
import { checkPattern } from './pattern.ts';
import { type RetryOptions, retrySchedule } from './retry-schedule.ts';

/** A decoded event as the handler sees it. */
export interface Message<T = unknown> {
  /** CloudEvents `id`: stable across redeliveries, the key of the idempotent inbox. */
  readonly id: string;
  readonly topic: string;
  readonly key: string | undefined;
  readonly source: string;
  readonly type: string;
  readonly time: string;
  readonly subject: string | undefined;
  readonly data: T;
  /** Every header on the wire, CloudEvents attributes included. */
  readonly headers: Readonly<Record<string, string>>;
  /** 1 for the first handling, 2 for the first retry, ... */
  readonly attempt: number;
  /** Deliveries since the last settlement (> 1 after a consumer died holding it), when known. */
  readonly deliveryCount: number | undefined;
}

/** Options of {@link consume}. */
export interface ConsumeOptions<T = unknown> {
  /** Consumer group; members of a group share its messages, each group gets every message. */
  readonly group: string;
  /** Exact topics. At least one of `topics` and `patterns` is required. */
  readonly topics?: readonly string[];
  /** AMQP-style patterns: `user.*` one word, `user.#` zero or more. */
  readonly patterns?: readonly string[];
  /** The handler; resolve = done (ack), reject = failed (retry, then dead-letter). */
  readonly handler: Service<Message<T>, void>;
  /** Handlers running at once; messages with the same key never overlap. Defaults to 1. */
  readonly concurrency?: number;
  /** Unsettled deliveries the broker may hand over at once. Defaults to `max(100, 2 × concurrency)`. */
  readonly prefetch?: number;
  /** Handler retries. Defaults: 5 attempts, 1 s base, 60 s cap, ×2, equal jitter. */
  readonly retry?: RetryOptions;
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
  describe(): Record<string, unknown>;
}

/**
 * Subscribes a handler to a group. Resolves once the group membership is durable.
 *
 * @example
 * ```ts
 * import { sqliteBroker } from '@meshkit/messaging-sqlite';
 * declare function sendWelcomeMail(user: unknown): Promise<void>;
 * const broker = sqliteBroker({ path: 'var/events.db' });
 * const consumer = await consume(broker, {
 *   group: 'notifications',
 *   patterns: ['user.*'],
 *   handler: async (msg) => sendWelcomeMail(msg.data),
 *   concurrency: 8,
 *   retry: { maxAttempts: 5, baseDelayMs: 1_000 },
 * });
 * process.on('SIGTERM', () => consumer.stop());
 * ```
 */
export async function consume<T = unknown>(broker: Broker, options: ConsumeOptions<T>): Promise<Consumer> {
  const group = checkString('consume.group', options.group);
  const patterns = [
    ...(options.topics ?? []).map((t, i) => checkPattern(`consume.topics[${i}]`, t)),
    ...(options.patterns ?? []).map((p, i) => checkPattern(`consume.patterns[${i}]`, p)),
  ];
  if (patterns.length === 0) {
    throw new InvalidArgumentError('consume.topics', 'or consume.patterns must name at least one topic');
  }
  if (typeof options.handler !== 'function') {
    throw new InvalidArgumentError('consume.handler', 'must be a function', options.handler);
  }
  const handler = options.handler;
  const concurrency = checkInteger('consume.concurrency', options.concurrency ?? 1, 1);
  const prefetch = checkInteger('consume.prefetch', options.prefetch ?? Math.max(100, 2 * concurrency), 1);
  const schedule = retrySchedule(options.retry, 'consume.retry');
  const deadLetterTopic = checkPattern(
    'consume.deadLetter.topic',
    options.deadLetter?.topic ?? `dead-letter.${group}`,
  );
  const maxDeliveries = checkInteger('consume.maxDeliveries', options.maxDeliveries ?? 10, 1);
  const stopTimeoutMs = checkInteger('consume.stopTimeoutMs', options.stopTimeoutMs ?? 10_000, 0);
  const codec = options.codec ?? jsonCodec;
  const schema = options.schema;
  const clock = options.clock ?? systemClock;

  // One cancellation scope for every handler: aborted when stop() runs out of patience.
  const root: CancelHandle = createContext({ clock }).withCancel();
  const settling = new Set<Promise<void>>();
  let stopping = false;
  let stopped: Promise<void> | undefined;
  let handled = 0;
  let retried = 0;
  let deadLettered = 0;

  const track = (what: Promise<void>, delivery: Delivery): void => {
    const p = what.then(
      () => undefined,
      (error: unknown) => {
        if (messagingChannels.settleFailed.hasSubscribers) {
          messagingChannels.settleFailed.publish({ group, topic: delivery.topic, error });
        }
      },
    );
    settling.add(p);
    void p.then(() => settling.delete(p));
  };

  const deadLetter = (
    delivery: Delivery,
    reason: DeadLetterReason,
    error: unknown,
    attempt: number | undefined,
  ): Promise<void> => {
    deadLettered++;
    const headers: Record<string, string> = {
      [headerNames.deadLetterReason]: reason,
      [headerNames.error]: errorText(error),
      [headerNames.errorCode]: errorCode(error),
      [headerNames.originalTopic]: delivery.headers[headerNames.originalTopic] ?? delivery.topic,
      [headerNames.deadLetteredAt]: new Date(clock.now()).toISOString(),
    };
    if (attempt !== undefined) headers[headerNames.attempt] = String(attempt);
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

  const handle = async (delivery: Delivery): Promise<void> => {
    if (stopping) {
      track(delivery.release(), delivery);
      return;
    }
    const attempt = parseAttempt(delivery.headers[headerNames.attempt]);
    if (delivery.deliveryCount !== undefined && delivery.deliveryCount > maxDeliveries) {
      const error = new Error(`delivered ${delivery.deliveryCount} times without being settled`);
      track(deadLetter(delivery, 'delivery-limit', error, attempt), delivery);
      return;
    }
    const attrs = decodeAttributes(delivery.headers);
    if ('missing' in attrs) {
      const error = new MeshError(ErrorCode.INVALID_PAYLOAD, `not a CloudEvent: missing ${attrs.missing}`);
      track(deadLetter(delivery, 'undecodable', error, attempt), delivery);
      return;
    }
    let data: unknown;
    try {
      data = codec.decode(delivery.body);
    } catch (cause) {
      const error = new MeshError(ErrorCode.INVALID_PAYLOAD, `cannot decode body: ${errorText(cause)}`, {
        cause,
      });
      track(deadLetter(delivery, 'undecodable', error, attempt), delivery);
      return;
    }
    if (schema !== undefined) {
      try {
        data = await validate(schema, data);
      } catch (error) {
        track(deadLetter(delivery, 'invalid-payload', error, attempt), delivery);
        return;
      }
    }
    const deadlineHeader = delivery.headers[headerNames.deadline];
    const deadline = deadlineHeader === undefined ? undefined : Number(deadlineHeader);
    if (deadline !== undefined && Number.isFinite(deadline) && clock.now() >= deadline) {
      const error = new MeshError(
        ErrorCode.DEADLINE_EXCEEDED,
        `deadline ${new Date(deadline).toISOString()} passed before handling`,
      );
      track(deadLetter(delivery, 'deadline-exceeded', error, attempt), delivery);
      return;
    }

    const message: Message<T> = {
      id: attrs.id,
      topic: delivery.topic,
      key: delivery.key,
      source: attrs.source,
      type: attrs.type,
      time: attrs.time,
      subject: attrs.subject,
      data: data as T,
      headers: delivery.headers,
      attempt,
      deliveryCount: delivery.deliveryCount,
    };
    const metadata: Record<string, string> = {};
    const traceparent = delivery.headers[headerNames.traceparent];
    if (traceparent !== undefined) metadata.traceparent = traceparent;
    const tracestate = delivery.headers[headerNames.tracestate];
    if (tracestate !== undefined) metadata.tracestate = tracestate;
    const ctx: CallContext = root.ctx.with({
      attempt,
      metadata,
      deadline: deadline !== undefined && Number.isFinite(deadline) ? deadline : undefined,
    });

    try {
      await handler(message, ctx);
    } catch (error) {
      if (stopping && (isAbortError(error) || root.ctx.aborted)) {
        track(delivery.release(), delivery);
        return;
      }
      if (isMeshError(error) && error.code === ErrorCode.INVALID_PAYLOAD) {
        track(deadLetter(delivery, 'invalid-payload', error, attempt), delivery);
        return;
      }
      if (attempt >= schedule.maxAttempts) {
        track(deadLetter(delivery, 'handler-failed', error, attempt), delivery);
        return;
      }
      const delayMs = schedule.delayAfter(attempt);
      retried++;
      if (messagingChannels.retry.hasSubscribers) {
        messagingChannels.retry.publish({
          group,
          topic: delivery.topic,
          id: attrs.id,
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
      track(delivery.retryLater({ delayMs, headers }), delivery);
      return;
    }
    handled++;
    track(delivery.ack(), delivery);
  };

  const scheduler = new KeyScheduler<Delivery>(concurrency, (d) => d.key, handle);
  const subscription: Subscription = await broker.subscribe({
    group,
    patterns,
    prefetch,
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
    while (settling.size > 0) await Promise.all([...settling]);
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
        concurrency,
        prefetch,
        active: scheduler.active,
        queued: scheduler.queued,
        handled,
        retried,
        deadLettered,
        stopping,
      };
    },
  };
}

/** Resolves `true` if `promise` settles within `ms` on `clock`, else `false`. */
function within(clock: Clock, promise: Promise<void>, ms: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = clock.setTimeout(() => resolve(false), ms);
    void promise.then(() => {
      clock.clearTimeout(timer);
      resolve(true);
    });
  });
}

function parseAttempt(value: string | undefined): number {
  const n = value === undefined ? 1 : Number(value);
  return Number.isInteger(n) && n >= 1 ? n : 1;
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
