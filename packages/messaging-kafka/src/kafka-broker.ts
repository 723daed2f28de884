import { ErrorCode, MeshError } from '@meshkit/core';
import {
  type Broker,
  type BrokerRecord,
  headerNames,
  type PublishResult,
  type SubscribeOptions,
  type Subscription,
} from '@meshkit/messaging';
import {
  Admin,
  Base,
  compatibilityPartitioner,
  type MessageToProduce,
  ProduceAcks,
  Producer,
  stringSerializer,
  type TopicWithPartitionAndOffset,
} from '@platformatic/kafka';
import { kafkaChannels } from './channels.ts';
import { asIs, wireNameBytes, wireValueBytes } from './headers.ts';
import { type KafkaBrokerOptions, type ResolvedKafkaOptions, resolveOptions } from './options.ts';
import { KafkaSubscription } from './subscription.ts';

/** Where the partitioner notes the partition it gave a message (before the modulo the client applies). */
const partitionOf: unique symbol = Symbol('meshkit.kafka.partition');

type Outgoing = MessageToProduce<string, Buffer, Buffer, Buffer> & { [partitionOf]?: number };

/**
 * A {@link Broker} over Apache Kafka with `@platformatic/kafka`.
 *
 * - `publish` sends with an idempotent producer, `acks=all` and batch compression; it resolves once every
 *   record is acknowledged by all in-sync replicas. Keys are partitioned like the Java client (murmur2),
 *   records without a key round-robin over partitions. CloudEvents attributes travel as `ce_*` headers.
 * - `subscribe` joins a Kafka consumer group; offsets are committed only up to the first record whose
 *   handler has not finished (contiguous); retries go through the group's topic `meshkit-retry.<group>`.
 *
 * Create it with {@link kafkaBroker}.
 */
export class KafkaBroker implements Broker {
  readonly name = 'kafka';
  readonly #options: ResolvedKafkaOptions;
  readonly #producer: Producer<string, Buffer, Buffer, Buffer>;
  readonly #subscriptions = new Set<KafkaSubscription>();
  #admin: Admin | undefined;
  #roundRobin = 0;
  readonly #validTopics = new Set<string>();
  #closed = false;

  constructor(options: KafkaBrokerOptions) {
    this.#options = resolveOptions(options);
    const o = this.#options;
    this.#producer = new Producer({
      clientId: o.clientId,
      bootstrapBrokers: o.brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      compression: o.compression,
      autocreateTopics: true,
      retries: o.retries,
      retryDelay: o.retryDelayMs,
      // Header names and values arrive as bytes (see toMessage): names and repeating values encoded once.
      serializers: { key: stringSerializer, headerKey: asIs, headerValue: asIs },
      partitioner: (message, key, context) => {
        let partition: number;
        if (key !== undefined && key !== null) {
          // murmur2 & 0x7fffffff, as the Java client's default partitioner (the modulo follows).
          partition = compatibilityPartitioner(message, key);
        } else {
          const count = context.metadata?.topics.get(message.topic)?.partitionsCount ?? o.partitions;
          this.#roundRobin = (this.#roundRobin + 1) % 0x7fffffff;
          partition = this.#roundRobin % count;
        }
        (message as Outgoing)[partitionOf] = partition;
        return partition;
      },
    });
  }

  /** @internal the resolved options, for subscriptions. */
  get options(): ResolvedKafkaOptions {
    return this.#options;
  }

  async publish(records: readonly BrokerRecord[]): Promise<PublishResult[]> {
    if (this.#closed) throw new MeshError(ErrorCode.CLOSED, 'Kafka broker connection is closed');
    const results: PublishResult[] = new Array(records.length);
    const messages: Outgoing[] = [];
    const indexes: number[] = [];
    records.forEach((record, i) => {
      const problem = this.#check(record);
      if (problem !== undefined) {
        results[i] = {
          ok: false,
          error: new MeshError(ErrorCode.BROKER_REJECTED, problem, { rejected: true }),
        };
        return;
      }
      messages.push(toMessage(record));
      indexes.push(i);
    });
    if (messages.length === 0) return results;
    const sent = this.#producer.send({ messages }).then(
      (result) => this.#positions(messages, result.offsets ?? []),
      (cause: unknown) => {
        if (this.#closed)
          throw new MeshError(ErrorCode.CLOSED, 'Kafka broker connection is closed', { cause });
        throw new MeshError(ErrorCode.CONNECTION_RESET, `Kafka produce failed: ${messageOf(cause)}`, {
          cause,
          retryable: true,
        });
      },
    );
    // Records whose caller gave a deadline (`meshkit-deadline`) fail with DEADLINE_EXCEEDED once it
    // passes; the batch is answered when its last record is (a record without one waits for the send).
    let deadlines = false;
    for (const i of indexes) if (records[i]!.headers[headerNames.deadline] !== undefined) deadlines = true;
    if (!deadlines) {
      const positions = await sent;
      for (let n = 0; n < indexes.length; n++) results[indexes[n]!] = { ok: true, position: positions[n] };
      return results;
    }
    let waiting = indexes.map((i, n) => ({ i, n, deadline: deadlineOf(records[i]!) }));
    for (;;) {
      const next = Math.min(...waiting.map((w) => w.deadline));
      const outcome = await settleWithin(sent, next - Date.now());
      if (outcome !== undefined) {
        if (!outcome.ok) {
          // Some records were already answered (deadline): the rest get the failure one by one.
          if (waiting.length === indexes.length) throw outcome.error;
          for (const w of waiting) results[w.i] = { ok: false, error: outcome.error as MeshError };
          return results;
        }
        for (const w of waiting) results[w.i] = { ok: true, position: outcome.value[w.n] };
        return results;
      }
      const now = Date.now();
      for (const w of waiting) {
        if (w.deadline > now) continue;
        results[w.i] = {
          ok: false,
          error: new MeshError(
            ErrorCode.DEADLINE_EXCEEDED,
            `Kafka produce to ${records[w.i]!.topic} not acknowledged before the deadline; the record may still be written`,
          ),
        };
      }
      waiting = waiting.filter((w) => w.deadline > now);
      if (waiting.length === 0) {
        sent.catch(() => {}); // answered; the send finishes (or fails) on its own
        return results;
      }
    }
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.#closed) throw new MeshError(ErrorCode.CLOSED, 'Kafka broker connection is closed');
    const subscription = new KafkaSubscription(this, options, () => this.#subscriptions.delete(subscription));
    this.#subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      await subscription.close();
      throw error;
    }
    return subscription;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#subscriptions].map((s) => s.close()));
    await Promise.all([
      closeClient(this.#producer),
      this.#admin === undefined ? undefined : closeClient(this.#admin),
    ]);
  }

  /** @internal Creates the topics that do not exist yet (partitions from the options). */
  async ensureTopics(topics: readonly string[]): Promise<void> {
    if (topics.length === 0) return;
    const admin = this.#adminClient();
    const existing = new Set(await admin.listTopics({ includeInternals: false }));
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length === 0) return;
    try {
      await admin.createTopics({ topics: missing, partitions: this.#options.partitions, replicas: -1 });
    } catch (error) {
      // Another member may have created them meanwhile.
      if (!/exist/i.test(describeError(error))) throw error;
    }
    // The controller answers before every broker knows the new leaders; a produce sent in between fails
    // and makes the client restart its idempotent session (which can duplicate a batch): wait for them.
    for (let attempt = 0; attempt < 50; attempt++) {
      const metadata = await admin.metadata({ topics: missing, forceUpdate: true });
      const ready = missing.every((t) => {
        const topic = metadata.topics.get(t);
        return topic?.partitions.every((p) => p !== undefined && p.leader >= 0) === true;
      });
      if (ready) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * @internal Gives a group that has no committed offset on a partition of `topics` one at the
   * partition's end: a new group receives what is published from now on (as an AMQP queue bound now
   * would), never the topic's history. A group that already has offsets keeps them; a group with active
   * members refuses the change, and its members' positions stand.
   */
  async anchorGroup(group: string, topics: readonly string[]): Promise<void> {
    if (topics.length === 0) return;
    const admin = this.#adminClient();
    const metadata = await admin.metadata({ topics: [...topics] });
    const [committed] = await admin.listConsumerGroupOffsets({ groups: [group] });
    const has = new Set<string>();
    for (const t of committed?.topics ?? []) {
      for (const p of t.partitions) if (p.committedOffset >= 0n) has.add(`${t.name}:${p.partitionIndex}`);
    }
    const request = [];
    for (const topic of topics) {
      const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
      const partitions = [];
      for (let p = 0; p < count; p++) {
        if (!has.has(`${topic}:${p}`)) partitions.push({ partitionIndex: p, timestamp: -1n });
      }
      if (partitions.length > 0) request.push({ name: topic, partitions });
    }
    if (request.length === 0) return;
    const ends = await admin.listOffsets({ topics: request });
    try {
      await admin.alterConsumerGroupOffsets({
        groupId: group,
        topics: ends.map((t) => ({
          name: t.name,
          partitionOffsets: t.partitions.map((p) => ({ partition: p.partitionIndex, offset: p.offset })),
        })),
      });
    } catch (error) {
      // Active members: the group is already consuming from its own positions.
      if (!/NON_EMPTY_GROUP|not empty|UNKNOWN_MEMBER|REBALANCE/i.test(describeError(error))) throw error;
    }
  }

  /** @internal Every topic on the cluster (internal ones left out). */
  async listTopics(): Promise<string[]> {
    return this.#adminClient().listTopics({ includeInternals: false });
  }

  /** @internal Publishes records for a subscription (retry and dead-letter moves). */
  async move(records: readonly BrokerRecord[]): Promise<void> {
    const [result] = await this.publish(records);
    if (result !== undefined && !result.ok) throw result.error;
  }

  /**
   * Records not yet consumed by `group`, per `topic:partition` (log end minus committed offset; a
   * partition without a commit counts from its start). Also published on `meshkit:kafka:lag`.
   */
  async lag(group: string, topics: readonly string[]): Promise<Record<string, number>> {
    if (this.#closed) throw new MeshError(ErrorCode.CLOSED, 'Kafka broker connection is closed');
    const admin = this.#adminClient();
    const metadata = await admin.metadata({ topics: [...topics] });
    const request = topics.map((name) => ({
      name,
      partitions: Array.from({ length: metadata.topics.get(name)?.partitionsCount ?? 0 }, (_, p) => ({
        partitionIndex: p,
        timestamp: -1n,
      })),
    }));
    const [ends, [committed]] = await Promise.all([
      admin.listOffsets({ topics: request }),
      admin.listConsumerGroupOffsets({ groups: [group] }),
    ]);
    const done = new Map<string, bigint>();
    for (const t of committed?.topics ?? []) {
      for (const p of t.partitions) done.set(`${t.name}:${p.partitionIndex}`, p.committedOffset);
    }
    const lag: Record<string, number> = {};
    for (const t of ends) {
      for (const p of t.partitions) {
        const key = `${t.name}:${p.partitionIndex}`;
        const from = done.get(key) ?? -1n;
        lag[key] = Number(p.offset - (from >= 0n ? from : 0n));
      }
    }
    if (kafkaChannels.lag.hasSubscribers) kafkaChannels.lag.publish({ group, lag });
    return lag;
  }

  /** `topic/partition/offset` of each sent message, from the base offset the broker gave each batch. */
  #positions(
    messages: readonly Outgoing[],
    bases: readonly TopicWithPartitionAndOffset[],
  ): (string | undefined)[] {
    const metadata = this.#producer.currentMetadata;
    // The next offset of each partition written to, per topic (a batch rarely spans topics).
    const next = new Map<string, bigint[]>();
    for (const b of bases) {
      let offsets = next.get(b.topic);
      if (offsets === undefined) {
        offsets = [];
        next.set(b.topic, offsets);
      }
      offsets[b.partition] = b.offset;
    }
    return messages.map((m) => {
      const raw = m[partitionOf];
      const count = metadata?.topics.get(m.topic)?.partitionsCount;
      if (raw === undefined || count === undefined) return undefined;
      const partition = raw % count;
      const offsets = next.get(m.topic);
      const offset = offsets?.[partition];
      if (offset === undefined) return undefined;
      offsets![partition] = offset + 1n;
      return `${m.topic}/${partition}/${offset}`;
    });
  }

  #adminClient(): Admin {
    // A late caller (a subscription's topic refresh) must not open a client after close().
    if (this.#closed) throw new MeshError(ErrorCode.CLOSED, 'Kafka broker connection is closed');
    this.#admin ??= new Admin({
      clientId: `${this.#options.clientId}-admin`,
      bootstrapBrokers: this.#options.brokers,
      retries: this.#options.retries,
      retryDelay: this.#options.retryDelayMs,
    });
    return this.#admin;
  }

  #check(record: BrokerRecord): string | undefined {
    if (!this.#validTopics.has(record.topic)) {
      if (typeof record.topic !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(record.topic)) {
        return `topic ${JSON.stringify(record.topic)} is not a valid Kafka topic name`;
      }
      if (this.#validTopics.size > 10_000) this.#validTopics.clear();
      this.#validTopics.add(record.topic);
    }
    if (!(record.body instanceof Uint8Array)) return 'body must be a Uint8Array';
    if (record.body.byteLength > this.#options.maxRecordBytes) {
      return `message of ${record.body.byteLength} bytes exceeds the limit of ${this.#options.maxRecordBytes} bytes`;
    }
    return undefined;
  }
}

function toMessage(record: BrokerRecord): Outgoing {
  const headers = new Map<Buffer, Buffer>();
  for (const name of Object.keys(record.headers)) {
    headers.set(wireNameBytes(name), wireValueBytes(name, record.headers[name]!));
  }
  const body = record.body;
  const message: Outgoing = {
    topic: record.topic,
    value: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    headers,
  };
  if (record.key !== undefined) message.key = record.key;
  return message;
}

/**
 * Closes a client so that none of its sockets outlives this call: a client whose own close() fails keeps
 * its connections and marks itself not closed, so its connection pool is closed directly then.
 */
async function closeClient(client: Producer<string, Buffer, Buffer, Buffer> | Admin): Promise<void> {
  try {
    await client.close();
  } catch {
    await Base.prototype.close.call(client).catch(() => {});
  }
}

/** The record's `meshkit-deadline` (epoch ms), or `Infinity` without one. */
function deadlineOf(record: BrokerRecord): number {
  const text = record.headers[headerNames.deadline];
  const deadline = text === undefined ? Number.NaN : Number(text);
  return Number.isFinite(deadline) ? deadline : Number.POSITIVE_INFINITY;
}

/** `promise`'s outcome if it settles within `ms` (`Infinity`: whenever it does), else `undefined`. */
function settleWithin<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown } | undefined> {
  const outcome = promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (ms === Number.POSITIVE_INFINITY) return outcome;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms), undefined);
  });
  return Promise.race([outcome, timeout]).finally(() => clearTimeout(timer));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The error's message with nested causes and aggregated errors, for matching broker error names. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const parts = [error.message];
  if (error instanceof AggregateError) for (const e of error.errors) parts.push(describeError(e));
  if (error.cause !== undefined) parts.push(describeError(error.cause));
  return parts.join(' | ');
}

/**
 * Opens a {@link KafkaBroker}. No connection is made until the first publish or subscribe.
 *
 * @example
 * ```ts
 * import { publisher } from '@meshkit/messaging';
 * const broker = kafkaBroker({ brokers: ['127.0.0.1:9092'] });
 * const events = publisher(broker, { source: '/users' });
 * await events.publish('user-events', { id: 'u1', action: 'created' }, { key: 'u1' });
 * ```
 */
export function kafkaBroker(options: KafkaBrokerOptions): KafkaBroker {
  return new KafkaBroker(options);
}
