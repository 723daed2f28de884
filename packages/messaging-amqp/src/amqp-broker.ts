import { ErrorCode, InvalidArgumentError, MeshError } from '@meshkit/core';
import { checkInteger, checkString } from '@meshkit/core/internal';
import {
  type Broker,
  type BrokerRecord,
  checkGroupStart,
  checkRecord,
  headerNames,
  type PublishResult,
  type SubscribeOptions,
  type Subscription,
} from '@meshkit/messaging';
import amqp, { type ChannelModel, type RecoveringChannelModel, type RecoveryOptions } from 'amqplib';
import { AmqpSubscription } from './amqp-subscription.ts';
import { amqpChannels } from './channels.ts';
import { ConfirmPublisher, type Outbound } from './confirm-publisher.ts';
import { deadLetterQueue, type QueueType, workQueueOptions } from './topology.ts';
import { toAmqp } from './wire.ts';

/** Options of {@link amqpBroker}. */
export interface AmqpBrokerOptions {
  /** AMQP URL, vhost included (`amqp://user:pass@host:5672/vhost`). Defaults to `amqp://guest:guest@127.0.0.1:5672`. */
  readonly url?: string;
  /** The durable topic exchange events are published to. Defaults to `events` (the seed's). */
  readonly exchange?: string;
  /**
   * Work queue type of each consumer group. `quorum` (replicated, counts deliveries) adds
   * `x-delivery-limit`; `classic` declares a plain durable queue, as the seed's consumer does. Defaults to `classic`.
   */
  readonly queueType?: QueueType;
  /** Quorum queues only: deliveries after which the broker itself dead-letters a message. Defaults to 20. */
  readonly deliveryLimit?: number;
  /** Most published messages awaiting their confirm at once; the rest wait their turn. Defaults to 1,000. */
  readonly maxUnconfirmed?: number;
  /**
   * Publish with the mandatory flag, so a message no queue is bound for comes back and its publish is
   * refused (`ERR_BROKER_REJECTED`, "unroutable") instead of being dropped by the broker. Defaults to `true`.
   */
  readonly mandatory?: boolean;
  /** Largest body accepted for publishing, bytes; a larger one is refused without being sent. Defaults to 16 MiB. */
  readonly maxMessageBytes?: number;
  /**
   * How long a publish waits for the connection to come back during an outage before it fails with a
   * retryable error, ms. A record's `meshkit-deadline` header shortens the wait. Defaults to 30,000.
   */
  readonly outageWaitMs?: number;
  /** AMQP heartbeat interval, seconds; a dead peer is noticed within about twice this. Defaults to 10. */
  readonly heartbeatSeconds?: number;
  /** First reconnect delay, ms; later ones double, with ±20 % jitter. Defaults to 100. */
  readonly reconnectInitialDelayMs?: number;
  /** Longest reconnect delay, ms. Defaults to 5,000. */
  readonly reconnectMaxDelayMs?: number;
  /** Connection attempts at startup before {@link amqpBroker} rejects. Defaults to 5. */
  readonly connectAttempts?: number;
  /** Connection name shown by `rabbitmqctl list_connections` and in events. Defaults to `meshkit`. */
  readonly connectionName?: string;
}

/**
 * The RabbitMQ {@link Broker}: publishes to a durable topic exchange on a confirm channel, gives each
 * consumer group a durable queue bound with its patterns, retries through per-delay TTL queues and
 * dead-letters into `<group>.dlq`. The connection recovers by itself; see the package README.
 */
export class AmqpBroker implements Broker {
  readonly name = 'amqp';
  #connection!: RecoveringChannelModel;
  readonly #exchange: string;
  readonly #connectionName: string;
  readonly #maxMessageBytes: number;
  readonly #outageWaitMs: number;
  readonly #mandatory: boolean;
  readonly #queue: ReturnType<typeof workQueueOptions>;
  readonly #publisher: ConfirmPublisher;
  readonly #subscriptions = new Set<AmqpSubscription>();
  #model: ChannelModel | undefined;
  #closed: Promise<void> | undefined;
  #connectWaiters: (() => void)[] = [];

  private constructor(options: ResolvedOptions) {
    this.#exchange = options.exchange;
    this.#connectionName = options.connectionName;
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#outageWaitMs = options.outageWaitMs;
    this.#mandatory = options.mandatory;
    this.#queue = workQueueOptions(options.queueType, options.deliveryLimit, '');
    this.#publisher = new ConfirmPublisher(options.maxUnconfirmed, () => void this.#openPublisher());
  }

  /**
   * Live state: `connected` (a publish channel is open), `unconfirmed` (sent, awaiting the broker's
   * confirm; at most `maxUnconfirmed`), `pending` (waiting to be sent plus unconfirmed), `subscriptions`.
   */
  describe(): Record<string, unknown> {
    return {
      exchange: this.#exchange,
      connected: this.#publisher.connected,
      unconfirmed: this.#publisher.unconfirmed,
      pending: this.#publisher.pending,
      subscriptions: this.#subscriptions.size,
    };
  }

  /** The exchange this broker publishes to. */
  get exchange(): string {
    return this.#exchange;
  }

  /**
   * Connects and resolves once the exchange is declared; rejects with `ERR_CONNECT` when the first
   * `connectAttempts` attempts fail. The same as {@link amqpBroker}.
   */
  static async connect(options: AmqpBrokerOptions = {}): Promise<AmqpBroker> {
    const { resolved, url, recovery } = resolveOptions(options);
    const broker = new AmqpBroker(resolved);
    const connection = await amqp.connect(url.toString(), {
      clientProperties: { connection_name: resolved.connectionName },
      recovery: { ...recovery, setup: (model: ChannelModel) => broker.#setup(model) },
    });
    broker.#connection = connection;
    broker.#watch();
    try {
      await connection.waitForConnect();
    } catch (cause) {
      await connection.close().catch(() => {});
      throw new MeshError(ErrorCode.CONNECT, `cannot connect to RabbitMQ at ${url.host}: ${String(cause)}`, {
        cause,
        retryable: true,
      });
    }
    return broker;
  }

  /** Runs after every (re)connection, before the connection counts as up: topology, publisher, consumers. */
  async #setup(model: ChannelModel): Promise<void> {
    model.on('error', (error: unknown) => this.#report('error', error));
    this.#model = model;
    try {
      await this.#openPublisher(model);
    } catch (error) {
      // amqplib closes this connection and tries again after a delay.
      this.#model = undefined;
      throw error;
    }
    for (const subscription of this.#subscriptions)
      this.#reopen(subscription, model, await settle(subscription.open(model)));
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * One group whose declaration the broker refuses (a queue that exists with other arguments) must not
   * keep the whole connection down: it is reported and tried again, alone, while the connection lasts.
   */
  #reopen(subscription: AmqpSubscription, model: ChannelModel, error: unknown): void {
    if (error === undefined) return;
    if (amqpChannels.channelError.hasSubscribers) {
      amqpChannels.channelError.publish({ role: 'consume', group: subscription.group, error });
    }
    setTimeout(() => {
      if (this.#model !== model || this.#closed !== undefined || !this.#subscriptions.has(subscription))
        return;
      void settle(subscription.open(model)).then((again) => this.#reopen(subscription, model, again));
    }, 5_000).unref();
  }

  async #openPublisher(model?: ChannelModel): Promise<void> {
    const on = model ?? this.#model;
    if (on === undefined || this.#closed !== undefined) return;
    try {
      const channel = await on.createConfirmChannel();
      await channel.assertExchange(this.#exchange, 'topic', { durable: true });
      this.#publisher.attach(channel);
    } catch (error) {
      if (model !== undefined) throw error;
      // Reopening after a channel error failed: the connection is going down, and setup() reopens it.
      this.#report('error', error);
    }
  }

  /** Wires the connection's events to the diagnostics channel (never an uncaught `error`). */
  #watch(): void {
    const c = this.#connection;
    c.on('connect', () => this.#report('connected'));
    c.on('disconnect', (error: Error) => {
      this.#model = undefined;
      this.#report('disconnected', error);
    });
    c.on('reconnect-scheduled', (info: { attempt: number; delay: number; error: Error }) =>
      this.#report('reconnect-scheduled', info.error, info.attempt, info.delay),
    );
    c.on('blocked', (reason: string) => this.#report('blocked', reason));
    c.on('unblocked', () => this.#report('unblocked'));
    c.on('error', (error: Error) => this.#report('error', error));
    c.on('connect-failed', (error: Error) => this.#report('error', error));
  }

  #report(
    state: 'connected' | 'disconnected' | 'reconnect-scheduled' | 'blocked' | 'unblocked' | 'error',
    error?: unknown,
    attempt?: number,
    delayMs?: number,
  ): void {
    if (!amqpChannels.connection.hasSubscribers) return;
    amqpChannels.connection.publish({ state, connection: this.#connectionName, error, attempt, delayMs });
  }

  /**
   * Publishes each record to the exchange under its topic and resolves with one result per record once
   * each is confirmed or refused (nack, unroutable, channel closed by the broker, too large, outage
   * outlasting `outageWaitMs`). Rejects only on a closed broker (`ERR_CLOSED`).
   */
  async publish(records: readonly BrokerRecord[]): Promise<PublishResult[]> {
    if (this.#closed !== undefined) {
      throw new MeshError(ErrorCode.CLOSED, 'the RabbitMQ broker connection is closed');
    }
    const now = Date.now();
    const results = new Array<PublishResult>(records.length);
    let left = records.length;
    if (left === 0) return results;
    return new Promise<PublishResult[]>((resolve) => {
      const done = (i: number, result: PublishResult): void => {
        results[i] = result;
        if (--left === 0) resolve(results);
      };
      for (let i = 0; i < records.length; i++) {
        const record = records[i]!;
        const refused = checkRecord(record, this.#maxMessageBytes);
        if (refused !== undefined) {
          done(i, { ok: false, error: new MeshError(ErrorCode.BROKER_REJECTED, refused) });
          continue;
        }
        this.#publisher.enqueue(this.#outbound(record, this.#exchange, record.topic, undefined, now), (r) =>
          done(i, r),
        );
      }
    });
  }

  #outbound(
    record: BrokerRecord,
    exchange: string,
    routingKey: string,
    extra: Record<string, string> | undefined,
    now: number,
  ): Outbound {
    const options = toAmqp(record, now, this.#mandatory);
    if (extra !== undefined) options.headers = { ...options.headers, ...extra };
    const deadline = Number(record.headers[headerNames.deadline]);
    const wait = now + this.#outageWaitMs;
    const giveUpAt = Number.isFinite(deadline) ? Math.min(wait, deadline) : wait;
    const bytes = record.body;
    const body = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { exchange, routingKey, body, options, giveUpAt };
  }

  /**
   * Declares the group's durable queue (bound with the patterns) and its `<group>.dlq`, sets
   * `basic.qos` to the prefetch and starts consuming; resolves once all of it is in place. During an
   * outage it waits for the connection up to `outageWaitMs`.
   */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.#closed !== undefined) {
      throw new MeshError(ErrorCode.CLOSED, 'the RabbitMQ broker connection is closed');
    }
    const group = checkString('subscribe.group', options.group);
    if (group.startsWith('amq.') || Buffer.byteLength(group) > 240) {
      throw new InvalidArgumentError(
        'subscribe.group',
        'must not start with "amq." and fit in 240 bytes',
        group,
      );
    }
    checkInteger('subscribe.prefetch', options.prefetch, 1, 65_535);
    checkGroupStart(options.from, 'amqp', ['now']);
    const subscription = new AmqpSubscription(
      {
        exchange: this.#exchange,
        queue: queueFor(this.#queue, group),
        countsDeliveries: this.#queue.arguments !== undefined,
        republish: (record, exchange, routingKey, extra) =>
          this.#publisher.send(this.#outbound(record, exchange, routingKey, extra, Date.now())),
        forget: (s) => this.#subscriptions.delete(s),
      },
      options,
    );
    this.#subscriptions.add(subscription);
    // Opened on the current connection; if it drops meanwhile, setup() opens it on the next one.
    for (;;) {
      const model = this.#model;
      if (model === undefined) {
        await this.#nextConnection();
        continue;
      }
      try {
        await subscription.open(model);
        return subscription;
      } catch (error) {
        if (this.#model === model) {
          this.#subscriptions.delete(subscription);
          throw error;
        }
      }
    }
  }

  /** Deletes the group's work queue and its `<group>.dlq` (its delay queues expire by themselves). */
  async deleteGroup(group: string): Promise<void> {
    checkString('deleteGroup.group', group);
    if (this.#closed !== undefined) {
      throw new MeshError(ErrorCode.CLOSED, 'the RabbitMQ broker connection is closed');
    }
    while (this.#model === undefined) await this.#nextConnection();
    const channel = await this.#model.createChannel();
    try {
      await channel.deleteQueue(group);
      await channel.deleteQueue(deadLetterQueue(group));
    } finally {
      await channel.close().catch(() => {});
    }
  }

  #nextConnection(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#connectWaiters = this.#connectWaiters.filter((w) => w !== done);
        reject(
          new MeshError(ErrorCode.CONNECT, `no connection to RabbitMQ within ${this.#outageWaitMs} ms`, {
            retryable: true,
          }),
        );
      }, this.#outageWaitMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#connectWaiters.push(done);
    });
  }

  /**
   * Waits (up to 5 s) for the confirms of what was published, closes the subscriptions (their
   * unsettled deliveries go back to their queues) and the connection. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#publisher.whenIdle(5_000);
      this.#publisher.close();
      await Promise.all([...this.#subscriptions].map((s) => s.close()));
      await this.#connection.close().catch(() => {});
    })();
    return this.#closed;
  }
}

/** Resolves with the error a promise rejected with, or `undefined`. */
function settle(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (error: unknown) => error ?? new Error('failed'),
  );
}

function checkBoolean(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidArgumentError(field, 'must be a boolean', value);
  return value;
}

function queueFor(
  base: ReturnType<typeof workQueueOptions>,
  group: string,
): ReturnType<typeof workQueueOptions> {
  if (base.arguments === undefined) return base;
  return { ...base, arguments: { ...base.arguments, 'x-dead-letter-routing-key': `${group}.dlq` } };
}

interface ResolvedOptions {
  readonly exchange: string;
  readonly queueType: QueueType;
  readonly deliveryLimit: number;
  readonly maxUnconfirmed: number;
  readonly maxMessageBytes: number;
  readonly outageWaitMs: number;
  readonly mandatory: boolean;
  readonly connectionName: string;
}

/**
 * Connects to RabbitMQ and returns the {@link Broker}. Resolves once connected with the exchange
 * declared; rejects with `ERR_CONNECT` when the first `connectAttempts` attempts fail.
 *
 * @example
 * ```ts
 * import { publisher } from '@meshkit/messaging';
 * const broker = await amqpBroker({ url: 'amqp://guest:guest@127.0.0.1:5672' });
 * const events = publisher(broker, { source: '/user-service' });
 * await events.publish('user.created', { id: '42' }, { key: '42' });
 * ```
 */
export function amqpBroker(options: AmqpBrokerOptions = {}): Promise<AmqpBroker> {
  return AmqpBroker.connect(options);
}

function resolveOptions(options: AmqpBrokerOptions): {
  resolved: ResolvedOptions;
  url: URL;
  recovery: RecoveryOptions;
} {
  const url = new URL(checkString('amqpBroker.url', options.url ?? 'amqp://guest:guest@127.0.0.1:5672'));
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') {
    throw new InvalidArgumentError('amqpBroker.url', 'must be an amqp: or amqps: URL', options.url);
  }
  const exchange = checkString('amqpBroker.exchange', options.exchange ?? 'events');
  const queueType = options.queueType ?? 'classic';
  if (queueType !== 'classic' && queueType !== 'quorum') {
    throw new InvalidArgumentError('amqpBroker.queueType', 'must be "classic" or "quorum"', queueType);
  }
  const resolved: ResolvedOptions = {
    exchange,
    queueType,
    deliveryLimit: checkInteger('amqpBroker.deliveryLimit', options.deliveryLimit ?? 20, 1),
    maxUnconfirmed: checkInteger('amqpBroker.maxUnconfirmed', options.maxUnconfirmed ?? 1_000, 1),
    maxMessageBytes: checkInteger(
      'amqpBroker.maxMessageBytes',
      options.maxMessageBytes ?? 16 * 1024 * 1024,
      1,
    ),
    outageWaitMs: checkInteger('amqpBroker.outageWaitMs', options.outageWaitMs ?? 30_000, 0),
    mandatory: checkBoolean('amqpBroker.mandatory', options.mandatory ?? true),
    connectionName: checkString('amqpBroker.connectionName', options.connectionName ?? 'meshkit'),
  };
  const heartbeat = checkInteger('amqpBroker.heartbeatSeconds', options.heartbeatSeconds ?? 10, 0);
  const initialDelay = checkInteger(
    'amqpBroker.reconnectInitialDelayMs',
    options.reconnectInitialDelayMs ?? 100,
    1,
  );
  const maxDelay = checkInteger(
    'amqpBroker.reconnectMaxDelayMs',
    options.reconnectMaxDelayMs ?? 5_000,
    initialDelay,
  );
  const attempts = checkInteger('amqpBroker.connectAttempts', options.connectAttempts ?? 5, 1);
  url.searchParams.set('heartbeat', String(heartbeat));

  return {
    resolved,
    url,
    recovery: {
      initialDelay,
      maxDelay,
      factor: 2,
      jitter: 0.2,
      maxRetries: Number.POSITIVE_INFINITY,
      initialMaxRetries: attempts - 1,
      waitForConnect: false,
    },
  };
}
