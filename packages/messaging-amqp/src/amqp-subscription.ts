import type {
  BrokerRecord,
  DeadLetterRequest,
  Delivery,
  PublishResult,
  RetryRequest,
  SubscribeOptions,
  Subscription,
} from '@meshkit/messaging';
import type { Channel, ChannelModel, ConsumeMessage, Message, Options } from 'amqplib';
import { AckCoalescer } from './ack-coalescer.ts';
import { amqpChannels } from './channels.ts';
import {
  deadLetterQueue,
  declareGroup,
  declareRetryQueue,
  delayStep,
  retryQueue,
  retryQueueIdleMs,
} from './topology.ts';
import { fromAmqp, topicHeader } from './wire.ts';

/** What a subscription needs from its broker. */
export interface SubscriptionHost {
  readonly exchange: string;
  readonly queue: Options.AssertQueue;
  /** The queue counts deliveries (quorum): a first delivery carries no count header and is the 1st. */
  readonly countsDeliveries: boolean;
  /** Publishes a copy of a record (retry, dead letter) and resolves on its confirm. */
  republish(
    record: BrokerRecord,
    exchange: string,
    routingKey: string,
    extra: Record<string, string>,
  ): Promise<PublishResult>;
  /** Forgets a closed subscription. */
  forget(subscription: AmqpSubscription): void;
}

/** The channel a subscription consumes on; deliveries from a closed one can no longer be settled. */
interface Lane {
  readonly channel: Channel;
  readonly model: ChannelModel;
  open: boolean;
  consumerTag: string | undefined;
  /** The acks of this channel's deliveries, sent together at the end of each turn. */
  readonly acks: AckCoalescer;
}

/** `channel.ack` reads nothing but the delivery tag of the message it is given. */
function ackFrame(channel: Channel, tag: number, multiple: boolean): void {
  try {
    channel.ack({ fields: { deliveryTag: tag } } as Message, multiple);
  } catch {
    // The channel closed since the ack was made: the broker redelivers what it covered.
  }
}

/**
 * One group membership: its own channel with `basic.qos` = the prefetch, a consumer on the group's
 * queue, and the settling of each delivery. After a reconnect the broker opens it again on the new
 * connection (queues and bindings re-declared, consumer re-registered).
 */
export class AmqpSubscription implements Subscription {
  readonly #host: SubscriptionHost;
  readonly #options: SubscribeOptions;
  readonly #deadLetterTopic: string;
  #lane: Lane | undefined;
  #stopped = false;
  #closed = false;
  /** Delay queues declared, with when: declared again before use once half their idle time is gone. */
  readonly #retryQueues = new Map<string, { at: number; ready: Promise<void> }>();
  readonly #deadLetterBindings = new Map<string, Promise<void>>();
  #opening: { readonly model: ChannelModel; readonly done: Promise<void> } | undefined;

  constructor(host: SubscriptionHost, options: SubscribeOptions) {
    this.#host = host;
    this.#options = options;
    this.#deadLetterTopic = `dead-letter.${options.group}`;
  }

  get group(): string {
    return this.#options.group;
  }

  /**
   * Opens the subscription on `model` (again after a reconnect); does nothing once stopped or when it is
   * already open (or opening) on that connection.
   */
  open(model: ChannelModel): Promise<void> {
    if (this.#stopped || (this.#lane?.open && this.#lane.model === model)) return Promise.resolve();
    if (this.#opening?.model === model) return this.#opening.done;
    const done = this.#open(model).finally(() => {
      if (this.#opening?.done === done) this.#opening = undefined;
    });
    this.#opening = { model, done };
    return done;
  }

  async #open(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    const lane: Lane = {
      channel,
      model,
      open: true,
      consumerTag: undefined,
      acks: new AckCoalescer((tag, multiple) => {
        if (lane.open) ackFrame(channel, tag, multiple);
      }),
    };
    let failed: Error | undefined;
    channel.on('error', (error: Error) => {
      failed = error;
      if (amqpChannels.channelError.hasSubscribers) {
        amqpChannels.channelError.publish({ role: 'consume', group: this.group, error });
      }
    });
    channel.on('close', () => {
      lane.open = false;
      lane.acks.clear();
      // A broker error on a live connection (a queue deleted under us, a failed declare): open again.
      if (failed !== undefined && !this.#stopped && this.#lane === lane) {
        setTimeout(() => void this.open(model).catch(() => {}), 1_000).unref();
      }
    });
    try {
      await channel.prefetch(this.#options.prefetch);
      const { exchange } = this.#host;
      const { group, patterns } = this.#options;
      await declareGroup(channel, exchange, group, patterns, this.#deadLetterTopic, this.#host.queue);
      this.#retryQueues.clear();
      this.#deadLetterBindings.clear();
      this.#lane = lane;
      if (this.#stopped) return;
      const { consumerTag } = await channel.consume(group, (message) => this.#onMessage(lane, message), {
        noAck: false,
      });
      lane.consumerTag = consumerTag;
    } catch (error) {
      if (lane.open) await channel.close().catch(() => {});
      throw error;
    }
  }

  #onMessage(lane: Lane, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (its queue was deleted): declare and consume again.
      if (!this.#stopped && lane.open) {
        void lane.channel.close().catch(() => {});
        setTimeout(() => void this.open(lane.model).catch(() => {}), 1_000).unref();
      }
      return;
    }
    lane.acks.delivered(message.fields.deliveryTag);
    this.#options.onDelivery(new AmqpDelivery(this, lane, message, this.#host.countsDeliveries));
  }

  /**
   * Acks (at the end of the turn, coalesced with the channel's other acks), nacks (at once); a delivery
   * whose channel is gone is left alone: the broker redelivers it.
   */
  settle(lane: Lane, message: ConsumeMessage, how: 'ack' | 'requeue'): void {
    if (!lane.open) return;
    if (how === 'ack') {
      lane.acks.ack(message.fields.deliveryTag);
      return;
    }
    // Quorum queues (seen on RabbitMQ 3.10) drop the acks that follow a requeue made after basic.cancel,
    // so those acked messages come back. Once stopped, a released message is left unsettled instead:
    // closing the channel gives it back all the same, after every ack.
    if (how === 'requeue' && this.#stopped && this.#host.countsDeliveries) return;
    lane.acks.settled(message.fields.deliveryTag);
    try {
      lane.channel.nack(message, false, true);
    } catch {
      // The channel closed between the check and the call: the broker redelivers the message.
    }
  }

  /** Republishes `record` to `routingKey` on `exchange`, then acks; on a refused copy gives the message back. */
  async moveTo(
    lane: Lane,
    message: ConsumeMessage,
    record: BrokerRecord,
    exchange: string,
    routingKey: string,
    extra: Record<string, string>,
  ): Promise<void> {
    const result = await this.#host.republish(record, exchange, routingKey, extra);
    if (!result.ok) {
      this.settle(lane, message, 'requeue');
      throw result.error;
    }
    this.settle(lane, message, 'ack');
  }

  /** The routing key that brings a message back to the group after `delayMs`, declaring its queue. */
  async retryTarget(lane: Lane, delayMs: number): Promise<string> {
    const step = delayStep(delayMs);
    if (step === 0) return this.group;
    const name = retryQueue(this.group, step);
    const known = this.#retryQueues.get(name);
    if (known !== undefined && Date.now() - known.at < retryQueueIdleMs / 2) {
      await known.ready;
      return name;
    }
    const ready = declareRetryQueue(lane.channel, this.group, step);
    this.#retryQueues.set(name, { at: Date.now(), ready });
    try {
      await ready;
    } catch (error) {
      this.#retryQueues.delete(name);
      throw error;
    }
    return name;
  }

  /** Makes sure the group's dead-letter queue keeps what is published to `topic`. */
  async bindDeadLetter(lane: Lane, topic: string): Promise<void> {
    if (topic === this.#deadLetterTopic) return;
    let ready = this.#deadLetterBindings.get(topic);
    if (ready === undefined) {
      ready = lane.channel.bindQueue(deadLetterQueue(this.group), this.#host.exchange, topic).then(() => {});
      this.#deadLetterBindings.set(topic, ready);
      ready.catch(() => this.#deadLetterBindings.delete(topic));
    }
    await ready;
  }

  get exchange(): string {
    return this.#host.exchange;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const lane = this.#lane;
    if (lane?.open && lane.consumerTag !== undefined) {
      await lane.channel.cancel(lane.consumerTag).catch(() => {});
      lane.consumerTag = undefined;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.stop();
    this.#closed = true;
    this.#host.forget(this);
    const lane = this.#lane;
    // Closing the channel gives every unsettled delivery back to the queue, after the acks made so far.
    if (lane?.open) {
      lane.acks.flush();
      await lane.channel.close().catch(() => {});
    }
  }
}

/** One AMQP delivery in the port's terms. */
class AmqpDelivery implements Delivery {
  readonly topic: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly position: string;
  readonly deliveryCount: number | undefined;
  readonly #subscription: AmqpSubscription;
  readonly #lane: Lane;
  readonly #message: ConsumeMessage;

  constructor(subscription: AmqpSubscription, lane: Lane, message: ConsumeMessage, counted: boolean) {
    const wire = fromAmqp(message.fields.routingKey, message.fields.exchange, message.properties);
    this.topic = wire.topic;
    this.key = wire.key;
    this.headers = wire.headers;
    this.body = message.content;
    this.position = String(message.fields.deliveryTag);
    this.deliveryCount = wire.deliveryCount ?? (counted ? 1 : undefined);
    this.#subscription = subscription;
    this.#lane = lane;
    this.#message = message;
  }

  async ack(): Promise<void> {
    this.#subscription.settle(this.#lane, this.#message, 'ack');
  }

  async release(): Promise<void> {
    this.#subscription.settle(this.#lane, this.#message, 'requeue');
  }

  async retryLater(request: RetryRequest): Promise<void> {
    if (!this.#lane.open) return;
    const target = await this.#subscription.retryTarget(this.#lane, request.delayMs);
    await this.#subscription.moveTo(this.#lane, this.#message, this.#copy(request.headers), '', target, {
      [topicHeader]: this.topic,
    });
  }

  async deadLetter(request: DeadLetterRequest): Promise<void> {
    if (!this.#lane.open) return;
    await this.#subscription.bindDeadLetter(this.#lane, request.topic);
    await this.#subscription.moveTo(
      this.#lane,
      this.#message,
      { ...this.#copy(request.headers), topic: request.topic },
      this.#subscription.exchange,
      request.topic,
      {},
    );
  }

  #copy(extra: Readonly<Record<string, string>>): BrokerRecord {
    return { topic: this.topic, key: this.key, headers: { ...this.headers, ...extra }, body: this.body };
  }
}
