import {
  abortError,
  type CallContext,
  type Clock,
  createContext,
  ErrorCode,
  InvalidArgumentError,
  MeshError,
  metadataText,
  type Service,
  systemClock,
} from '@meshkit/core';
import { checkInteger, checkString } from '@meshkit/core/internal';
import type { Broker, BrokerRecord, PublishResult } from './broker.ts';
import { messagingChannels, type PublishEvent } from './channels.ts';
import { type Codec, jsonCodec, type StandardSchemaV1, validate } from './codec.ts';
import { encodeAttributes, headerNames, newEventId } from './envelope.ts';
import { Fifo } from './fifo.ts';
import { checkTopic } from './pattern.ts';

/** One event to publish. */
export interface Outgoing<T = unknown> {
  readonly topic: string;
  readonly data: T;
  /** Ordering key (same key, same order within a group). */
  readonly key?: string | undefined;
  /** CloudEvents `id`; defaults to a fresh UUID. Reuse it when re-publishing (outbox relay). */
  readonly id?: string | undefined;
  /** CloudEvents `type`; defaults to the topic. */
  readonly type?: string | undefined;
  /** CloudEvents `subject`. */
  readonly subject?: string | undefined;
  /** CloudEvents `time` (RFC 3339); defaults to now on the publisher's clock. */
  readonly time?: string | undefined;
  /** Extra headers (lower-case names); CloudEvents headers always win over these. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** What a confirmed publish returns. */
export interface Receipt {
  readonly id: string;
  readonly topic: string;
  /** Broker position, when the broker reports one. */
  readonly position: string | undefined;
}

/** The outcome of one event of {@link Publisher.publishBatch}. */
export type PublishOutcome =
  | { readonly ok: true; readonly id: string; readonly receipt: Receipt }
  | { readonly ok: false; readonly id: string; readonly error: Error };

/** Options of {@link publisher}. */
export interface PublisherOptions<T = unknown> {
  /** CloudEvents `source` of every event (a URI-reference naming the producer), e.g. `/user-service`. */
  readonly source: string;
  /** Payload codec. Defaults to {@link jsonCodec}. */
  readonly codec?: Codec;
  /** Schema checked before encoding; a failing event is refused with `ERR_INVALID_PAYLOAD`. */
  readonly schema?: StandardSchemaV1<unknown, T>;
  /** Most events handed to the broker and not yet confirmed. Defaults to 1,000. */
  readonly windowSize?: number;
  /** Most events in one `Broker.publish` call. Defaults to 500. */
  readonly maxBatch?: number;
  /** Clock for `ce-time`. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** Publishes events and resolves each one only after the broker's confirm. */
export interface Publisher<T = unknown> {
  /** The publisher as a {@link Service}, so policies (timeout, retry, breaker) can wrap it. */
  readonly service: Service<Outgoing<T>, Receipt>;
  /** Publishes one event; resolves with its receipt once confirmed, rejects if it was not accepted. */
  publish(
    topic: string,
    data: T,
    options?: Omit<Outgoing<T>, 'topic' | 'data'>,
    ctx?: CallContext,
  ): Promise<Receipt>;
  /** Publishes many events; never rejects for a refused event but reports each outcome in order. */
  publishBatch(events: readonly Outgoing<T>[], ctx?: CallContext): Promise<PublishOutcome[]>;
  /** Resolves once every event handed to the publisher so far is confirmed or refused. */
  flush(): Promise<void>;
  /** Number of events waiting for a window slot plus events awaiting their confirm. */
  readonly pending: number;
}

interface Pending {
  readonly record: BrokerRecord;
  readonly id: string;
  readonly resolve: (receipt: Receipt) => void;
  readonly reject: (error: Error) => void;
  readonly ctx: CallContext | undefined;
}

/**
 * Creates a publisher over a broker. Events published in the same tick travel in one broker batch;
 * at most `windowSize` events await their confirms at any time, the rest wait their turn (in order).
 *
 * @example
 * ```ts
 * declare const broker: Broker;
 * const events = publisher(broker, { source: '/user-service' });
 * const receipt = await events.publish('user.created', { id: '42' }, { key: '42' });
 * ```
 */
export function publisher<T = unknown>(broker: Broker, options: PublisherOptions<T>): Publisher<T> {
  const source = checkString('publisher.source', options.source);
  const codec = options.codec ?? jsonCodec;
  const windowSize = checkInteger('publisher.windowSize', options.windowSize ?? 1_000, 1);
  const maxBatch = checkInteger('publisher.maxBatch', options.maxBatch ?? 500, 1);
  const clock = options.clock ?? systemClock;
  const schema = options.schema;
  if (schema !== undefined && typeof schema['~standard']?.validate !== 'function') {
    throw new InvalidArgumentError('publisher.schema', 'must be a Standard Schema (zod, valibot, ...)');
  }

  const queue = new Fifo<Pending>();
  let unconfirmed = 0;
  let scheduled = false;
  let idleWaiters: (() => void)[] = [];

  /** The record for an event; a promise only when a schema has to check the data first. */
  const encode = (event: Outgoing<T>, ctx: CallContext | undefined): BrokerRecord | Promise<BrokerRecord> => {
    const topic = checkTopic('topic', event.topic);
    // An event whose deadline has passed would only be dead-lettered by every consumer: refuse it here.
    if (ctx !== undefined && ctx.remainingMs() <= 0) {
      throw new MeshError(ErrorCode.DEADLINE_EXCEEDED, `deadline passed before publishing to ${topic}`);
    }
    if (schema === undefined) return toRecord(topic, event, event.data, ctx);
    return validate(schema, event.data).then((data) => toRecord(topic, event, data, ctx));
  };

  const toRecord = (
    topic: string,
    event: Outgoing<T>,
    data: unknown,
    ctx: CallContext | undefined,
  ): BrokerRecord => {
    let body: Uint8Array;
    try {
      body = codec.encode(data);
    } catch (cause) {
      throw new MeshError(ErrorCode.INVALID_PAYLOAD, `cannot encode event for ${topic}: ${message(cause)}`, {
        cause,
      });
    }
    const extra: Record<string, string> = { ...event.headers };
    const traceparent = metadataText(ctx?.metadata, 'traceparent');
    if (traceparent !== undefined) extra[headerNames.traceparent] = traceparent;
    const tracestate = metadataText(ctx?.metadata, 'tracestate');
    if (tracestate !== undefined) extra[headerNames.tracestate] = tracestate;
    if (ctx?.deadline !== undefined) extra[headerNames.deadline] = String(Math.floor(ctx.deadline));
    const headers = encodeAttributes(
      {
        id: event.id ?? newEventId(),
        source,
        type: event.type ?? topic,
        time: event.time ?? new Date(clock.now()).toISOString(),
        subject: event.subject,
        contentType: codec.contentType,
      },
      extra,
    );
    return event.key === undefined ? { topic, headers, body } : { topic, key: event.key, headers, body };
  };

  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(pump);
  };

  function pump(): void {
    scheduled = false;
    while (queue.length > 0 && unconfirmed < windowSize) {
      const batch: Pending[] = [];
      while (batch.length < maxBatch && unconfirmed < windowSize && queue.length > 0) {
        const item = queue.shift()!;
        // A caller that gave up before its event left the queue gets an AbortError; the event is not sent.
        if (item.ctx?.aborted) {
          item.reject(abortError(item.ctx.abortReason));
          continue;
        }
        batch.push(item);
        unconfirmed++;
      }
      if (batch.length > 0) send(batch);
    }
    checkIdle();
  }

  function send(batch: Pending[]): void {
    let results: Promise<PublishResult[]>;
    try {
      results = broker.publish(batch.map((p) => p.record));
    } catch (error) {
      results = Promise.reject(error);
    }
    results.then(
      (outcomes) => {
        for (let i = 0; i < batch.length; i++) {
          const item = batch[i]!;
          const outcome = outcomes[i];
          if (outcome === undefined) {
            item.reject(new MeshError(ErrorCode.BROKER_REJECTED, 'broker returned no result for the event'));
          } else if (outcome.ok) {
            item.resolve({ id: item.id, topic: item.record.topic, position: outcome.position });
          } else {
            item.reject(outcome.error);
          }
        }
        settled(batch.length);
      },
      (error: unknown) => {
        const err = error instanceof Error ? error : new Error(String(error));
        for (const item of batch) item.reject(err);
        settled(batch.length);
      },
    );
  }

  function settled(count: number): void {
    unconfirmed -= count;
    if (queue.length > 0) schedule();
    checkIdle();
  }

  function checkIdle(): void {
    if (queue.length === 0 && unconfirmed === 0 && idleWaiters.length > 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  const enqueue = (record: BrokerRecord, ctx: CallContext | undefined): Promise<Receipt> =>
    new Promise<Receipt>((resolve, reject) => {
      const id = record.headers[headerNames.id]!;
      queue.push({ record, id, resolve, reject, ctx });
      schedule();
    });

  const publishOne = (event: Outgoing<T>, ctx: CallContext | undefined): Promise<Receipt> => {
    if (ctx?.aborted) return Promise.reject(abortError(ctx.abortReason));
    if (messagingChannels.publishStart.hasSubscribers || messagingChannels.publishEnd.hasSubscribers) {
      return observedPublish(event, ctx);
    }
    let record: BrokerRecord | Promise<BrokerRecord>;
    try {
      record = encode(event, ctx);
    } catch (error) {
      return Promise.reject(error);
    }
    return record instanceof Promise ? record.then((r) => enqueue(r, ctx)) : enqueue(record, ctx);
  };

  /** {@link publishOne} published on `meshkit:messaging:publish-*`. */
  const observedPublish = async (event: Outgoing<T>, ctx: CallContext | undefined): Promise<Receipt> => {
    const observed: PublishEvent = { topic: event.topic, ctx, metadata: {}, durationMs: Number.NaN };
    const start = clock.now();
    if (messagingChannels.publishStart.hasSubscribers) messagingChannels.publishStart.publish(observed);
    let sendCtx = ctx;
    for (const _ in observed.metadata) {
      sendCtx = (ctx ?? createContext({ clock })).with({ metadata: observed.metadata });
      break;
    }
    try {
      const record = await encode(event, sendCtx);
      observed.id = record.headers[headerNames.id];
      const receipt = await enqueue(record, sendCtx);
      observed.durationMs = clock.now() - start;
      return receipt;
    } catch (error) {
      observed.durationMs = clock.now() - start;
      observed.error = error;
      throw error;
    } finally {
      if (messagingChannels.publishEnd.hasSubscribers) messagingChannels.publishEnd.publish(observed);
    }
  };

  const service: Service<Outgoing<T>, Receipt> = (event, ctx) => publishOne(event, ctx);

  return {
    service,
    publish(topic, data, opts = {}, ctx) {
      return publishOne({ ...opts, topic, data }, ctx);
    },
    async publishBatch(events, ctx) {
      const root = ctx ?? createContext({ clock });
      const rootTraced = metadataText(root.metadata, 'traceparent') !== undefined;
      return Promise.all(
        events.map(async (item): Promise<PublishOutcome> => {
          const [event, eventCtx] = rootTraced ? [item, root] : continuedTrace(item, root);
          let id = event.id ?? '';
          try {
            if (
              messagingChannels.publishStart.hasSubscribers ||
              messagingChannels.publishEnd.hasSubscribers
            ) {
              const receipt = await observedPublish(event, eventCtx);
              return { ok: true, id: receipt.id, receipt };
            }
            const record = await encode(event, eventCtx);
            id = record.headers[headerNames.id]!;
            return { ok: true, id, receipt: await enqueue(record, eventCtx) };
          } catch (error) {
            return { ok: false, id, error: error instanceof Error ? error : new Error(String(error)) };
          }
        }),
      );
    },
    flush() {
      if (queue.length === 0 && unconfirmed === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    get pending() {
      return queue.length + unconfirmed;
    },
  };
}

/**
 * An event that carries a `traceparent` header (an outbox row written inside a traced request) is
 * published in that trace: the header moves into the context the publish runs in, where observers find
 * the parent and the encoder writes the trace context onward.
 */
function continuedTrace<T>(event: Outgoing<T>, root: CallContext): [Outgoing<T>, CallContext] {
  const traceparent = event.headers?.traceparent;
  if (traceparent === undefined) return [event, root];
  const { traceparent: _p, tracestate, ...headers } = event.headers ?? {};
  return [
    { ...event, headers },
    root.with({ metadata: tracestate === undefined ? { traceparent } : { traceparent, tracestate } }),
  ];
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
