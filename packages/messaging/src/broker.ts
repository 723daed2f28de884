import { InvalidArgumentError } from '@meshkit/core';

/**
 * The Broker port: the small interface every messaging adapter implements (embedded SQLite, in-memory,
 * RabbitMQ, Kafka). It speaks in raw records (topic, key, headers, bytes); envelopes, codecs, retry
 * policy and dead-letter decisions live above it in {@link publisher} and {@link consume}.
 *
 * Mapping to the real engines:
 * - `publish` resolves per record only once the broker has durably accepted it: an SQLite commit, an AMQP
 *   publisher confirm (ack/nack per delivery tag), a Kafka produce with `acks=all`.
 * - `subscribe` joins a consumer group: a SQLite group cursor, an AMQP durable queue named after the group
 *   bound to a topic exchange with the patterns, a Kafka consumer group over the matching topics.
 * - `prefetch` bounds unsettled deliveries: AMQP `basic.qos`, Kafka pause/resume, SQLite claim size.
 * - settling: `ack` = AMQP ack / Kafka offset commit (contiguous) / SQLite lease delete; `retryLater` and
 *   `deadLetter` republish (delay queue, retry topic, dead-letter topic) and then ack, or do both in one
 *   transaction where the engine allows it.
 */

/** One record handed to {@link Broker.publish}. */
export interface BrokerRecord {
  /** Topic (AMQP routing key on the exchange, Kafka topic). Dot-separated words. */
  readonly topic: string;
  /** Ordering / partitioning key; records with the same key are handled in order within a group. */
  readonly key?: string | undefined;
  /** Lower-case header names to string values (CloudEvents binary-mode attributes live here). */
  readonly headers: Readonly<Record<string, string>>;
  /** The encoded payload. */
  readonly body: Uint8Array;
}

/** The broker's answer for one record of a batch: accepted (with its position) or refused. */
export type PublishResult =
  | { readonly ok: true; readonly position?: string | undefined }
  | { readonly ok: false; readonly error: Error };

/** What a subscription asks for. */
export interface SubscribeOptions {
  /** Consumer group: competing members share its messages; every group receives every message. */
  readonly group: string;
  /** Exact topics and/or AMQP-style patterns (`user.*` one word, `user.#` zero or more words). */
  readonly patterns: readonly string[];
  /** Upper bound on unsettled deliveries handed to this subscription at once. */
  readonly prefetch: number;
  /** Called once per delivery, in the order the broker delivers them. Must not throw. */
  readonly onDelivery: (delivery: Delivery) => void;
  /**
   * Where a group that does not exist yet starts (an existing group resumes where it is):
   * - `'now'` (the default): after the newest message; it receives what is published from now on, as an
   *   AMQP queue bound now does. The embedded broker publishes `groupSkippedRetained` on
   *   `messagingChannels` when it leaves retained matching messages behind.
   * - `'earliest'`: at the oldest message the broker still retains (SQLite: within `retentionMs`; Kafka:
   *   the topics' start, `auto.offset.reset=earliest`). RabbitMQ cannot: a queue only gets what is
   *   published after it is bound, so the AMQP adapter refuses it, as does the memory broker (no log).
   */
  readonly from?: GroupStart | undefined;
}

/** Where a new consumer group starts: see {@link SubscribeOptions.from}. */
export type GroupStart = 'now' | 'earliest';

/** Checks {@link SubscribeOptions.from}; `supported` lists what the adapter can do. */
export function checkGroupStart(
  value: unknown,
  adapter: string,
  supported: readonly GroupStart[] = ['now', 'earliest'],
): GroupStart {
  const from = value ?? 'now';
  if (from !== 'now' && from !== 'earliest') {
    throw new InvalidArgumentError('subscribe.from', "must be 'now' or 'earliest'", value);
  }
  if (!supported.includes(from)) {
    throw new InvalidArgumentError(
      'subscribe.from',
      `'${from}' is not supported by the ${adapter} broker${
        adapter === 'amqp'
          ? ': a RabbitMQ queue only receives what is published after it is bound'
          : adapter === 'memory'
            ? ': it keeps no log of past messages'
            : ''
      }`,
      value,
    );
  }
  return from;
}

/** How to dead-letter a delivery: where to, and the headers to add to the original ones. */
export interface DeadLetterRequest {
  readonly topic: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** How to retry a delivery later: after `delayMs`, with these headers merged over the original ones. */
export interface RetryRequest {
  readonly delayMs: number;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * One message handed to a subscriber. Exactly one of `ack`, `retryLater`, `deadLetter` or `release`
 * should be called; each resolves once the broker has durably recorded the outcome. Settling a delivery
 * whose lease was lost (the member was presumed dead) does nothing: the message is redelivered instead.
 */
export interface Delivery {
  readonly topic: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** Broker position (SQLite sequence, Kafka partition/offset, AMQP delivery tag) for diagnostics. */
  readonly position: string;
  /**
   * How many times this message was delivered since it was last settled, this delivery included
   * (1 = first delivery). Greater than 1 after a consumer died holding it. `undefined` when the engine
   * cannot tell (AMQP classic queues only report a `redelivered` flag).
   */
  readonly deliveryCount: number | undefined;
  /** Done: the group will not see this message again. */
  ack(): Promise<void>;
  /** Redeliver to the group (any member) after `delayMs`, with extra headers. */
  retryLater(request: RetryRequest): Promise<void>;
  /** Move to a dead-letter topic with extra headers, and settle. */
  deadLetter(request: DeadLetterRequest): Promise<void>;
  /** Give the message back unprocessed (graceful stop); it does not count as an attempt. */
  release(): Promise<void>;
}

/** A live group membership. */
export interface Subscription {
  /** Stop handing out new deliveries; outstanding ones can still be settled. */
  stop(): Promise<void>;
  /** Release every delivery still unsettled and leave the group. */
  close(): Promise<void>;
}

/**
 * The port an adapter implements.
 *
 * @example
 * ```ts
 * declare const broker: Broker;
 * const body = new TextEncoder().encode(JSON.stringify({ id: '42' }));
 * const results = await broker.publish([{ topic: 'user.created', headers: {}, body }]);
 * if (!results[0]!.ok) console.error('refused', results[0]!.error);
 * ```
 */
export interface Broker {
  /** A short adapter name for diagnostics (`sqlite`, `memory`, `amqp`, `kafka`). */
  readonly name: string;
  /**
   * Publishes a batch. The promise resolves once every record is confirmed or refused, with one result
   * per record in order; it rejects only when the whole batch failed in a way that leaves the outcome of
   * each record unknown (a lost connection before any confirm), with a retryable `MeshError`.
   */
  publish(records: readonly BrokerRecord[]): Promise<PublishResult[]>;
  /** Joins a group; resolves once the membership is durable (the group exists and will retain messages). */
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /**
   * Removes a group and everything it retains (close its subscriptions first): for tools' throwaway
   * groups, which would otherwise keep messages forever. Optional; the SQLite and RabbitMQ adapters
   * have it. A group that does not exist is ignored.
   */
  deleteGroup?(group: string): Promise<void>;
  /** Closes the connection after releasing what this connection holds. Idempotent. */
  close(): Promise<void>;
}
