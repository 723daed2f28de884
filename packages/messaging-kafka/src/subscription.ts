import { type Backoff, exponentialBackoff } from '@meshkit/core';
import {
  type BrokerRecord,
  checkGroupStart,
  compilePatterns,
  type DeadLetterRequest,
  type Delivery,
  type RetryRequest,
  type SubscribeOptions,
  type Subscription,
} from '@meshkit/messaging';
import {
  Base,
  Consumer,
  type GroupAssignment,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  stringDeserializer,
} from '@platformatic/kafka';
import { kafkaChannels } from './channels.ts';
import { DeliveryCounts } from './delivery-counts.ts';
import {
  asIs,
  headerNameOf,
  headerValueOf,
  retryHeaderNames,
  retryTopicOf,
  wrapPlainRecord,
} from './headers.ts';
import type { KafkaBroker } from './kafka-broker.ts';
import type { ResolvedKafkaOptions } from './options.ts';
import { PartitionOffsets } from './partition-offsets.ts';

type Record = Message<string, Buffer, Buffer, Buffer>;
type Stream = MessagesStream<string, Buffer, Buffer, Buffer>;

/** One joined consumer: a Kafka consumer over a fixed topic list and its message stream. */
interface Session {
  readonly topics: readonly string[];
  readonly consumer: Consumer<string, Buffer, Buffer, Buffer>;
  stream: Stream | undefined;
  /** `topic:partition` → offsets handed out on this session, for the partitions it owns now. */
  readonly partitions: Map<string, PartitionOffsets>;
  /** The partition of the last record received (a cache in front of `partitions`). */
  last: PartitionOffsets | undefined;
  lastTopic: string;
  lastPartition: number;
  /** Set by the first assignment; a session that ends before it is the opener's failure to handle. */
  joined: boolean;
  /** When the group last confirmed this member (join or heartbeat), epoch ms. */
  aliveAt: number;
  closed: boolean;
}

/**
 * A Kafka consumer-group membership behind {@link Subscription}: hands records out in partition order,
 * at most `prefetch` unsettled at once (it reads no more from the stream above that), commits contiguously, moves
 * retries through the group's retry topic and dead letters to their topic, and before every rebalance
 * waits (up to `rebalanceDrainMs`) for what it handed out to settle and commits it. When its consumer
 * gives up (the broker stayed away longer than the client's retries) it opens a new one, with backoff,
 * which rejoins the group and reads on from the committed offsets.
 */
export class KafkaSubscription implements Subscription {
  readonly #broker: KafkaBroker;
  readonly #options: SubscribeOptions;
  readonly #onClosed: () => void;
  readonly #retryTopic: string;
  readonly #exact: string[];
  readonly #wildcards: boolean;
  readonly #matches: (topic: string) => boolean;
  readonly #from: 'now' | 'earliest';
  #session: Session | undefined;
  #unsettled = 0;
  #stopped = false;
  /** Between a rebalance starting and the new assignment: nothing is read from the stream. */
  #draining = false;
  #closed: Promise<void> | undefined;
  #refreshTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #drainWaiters: (() => void)[] = [];
  #commitQueued: Promise<void> | undefined;
  #commitRunning: Promise<void> = Promise.resolve();
  /** A pull from the stream is scheduled for the next turn of the event loop. */
  #pullScheduled = false;
  #flushing: Session | undefined;
  /** Retried records waiting for their due time, not yet handed out. */
  #held = new Map<NodeJS.Timeout, KafkaDelivery>();
  /** This member's own hand-outs, for `deliveryCount`. */
  readonly #counts = new DeliveryCounts();
  /** `topic:partition` this member owned after its last join (across sessions; cleared when lost). */
  #owned = new Set<string>();
  /** The reopen loop after the consumer was lost, while it runs. */
  #reopening: Promise<void> | undefined;
  /** The consumer being opened (so close() can abort an open waiting on an absent broker). */
  #opening: Consumer<string, Buffer, Buffer, Buffer> | undefined;
  readonly #reopenBackoff: Backoff;
  /** Ends the wait before the next reopen attempt early (stop). */
  #wakeReopen: () => void = () => {};
  /** Consumers being closed in the background (a lost session's): close() waits for them. */
  readonly #closing = new Set<Promise<void>>();

  constructor(broker: KafkaBroker, options: SubscribeOptions, onClosed: () => void) {
    this.#broker = broker;
    this.#options = options;
    this.#onClosed = onClosed;
    this.#retryTopic = retryTopicOf(options.group);
    this.#exact = options.patterns.filter((p) => !p.split('.').some((w) => w === '*' || w === '#'));
    this.#wildcards = this.#exact.length < options.patterns.length;
    this.#matches = compilePatterns(options.patterns);
    this.#from = checkGroupStart(options.from, 'kafka');
    this.#reopenBackoff = exponentialBackoff({
      baseDelayMs: broker.options.reopenInitialDelayMs,
      maxDelayMs: broker.options.reopenMaxDelayMs,
      jitter: 'equal',
    });
  }

  /** Creates the exact topics and the retry topic, joins the group, and resolves once partitions are assigned. */
  async start(): Promise<void> {
    await this.#broker.ensureTopics([...this.#exact, this.#retryTopic]);
    const topics = await this.#topics();
    // A new group starts at the end of the topics ('now', anchored before it joins) or, with 'earliest',
    // at their start: a group without committed offsets falls back to EARLIEST (auto.offset.reset).
    if (this.#from === 'now') {
      await this.#broker.anchorGroup(
        this.#options.group,
        topics.filter((t) => t !== this.#retryTopic),
      );
    }
    await this.#open(topics);
    if (this.#wildcards) this.#scheduleRefresh();
    this.#watch();
  }

  /**
   * Declares the consumer lost when the group has not confirmed it (no heartbeat, no join) for longer
   * than the client's own retries (`retries` × `retryDelayMs`) and a rebalance could explain: the client
   * then keeps retrying requests on its own without ever ending its stream, so waiting for that is not
   * enough.
   */
  #watch(): void {
    const o = this.#broker.options;
    const lostAfterMs = Math.max(o.retries * o.retryDelayMs, rebalanceTimeoutOf(o) + o.sessionTimeoutMs);
    this.#watchdog = setInterval(
      () => {
        const session = this.#session;
        if (session === undefined || !session.joined || session.closed) return;
        const silentMs = Date.now() - session.aliveAt;
        if (silentMs > lostAfterMs) {
          this.#lost(session, new Error(`Kafka consumer group not confirmed for ${silentMs} ms`));
        }
      },
      Math.min(1_000, o.heartbeatIntervalMs),
    );
    this.#watchdog.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#releaseHeld();
    if (this.#refreshTimer !== undefined) clearTimeout(this.#refreshTimer);
    if (this.#watchdog !== undefined) clearInterval(this.#watchdog);
    this.#wakeReopen();
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.stop();
      const opening = this.#opening;
      if (opening !== undefined) {
        const stream = this.#session?.consumer === opening ? this.#session.stream : undefined;
        await this.#closeConsumer(opening, stream);
      }
      await this.#reopening;
      const session = this.#session;
      this.#session = undefined;
      if (session !== undefined) await this.#closeSession(session);
      while (this.#closing.size > 0) await Promise.all([...this.#closing]);
      this.#onClosed();
    })();
    return this.#closed;
  }

  /** Gives back the retried records still waiting for their due time (the next owner reads them again). */
  #releaseHeld(): void {
    for (const [timer, delivery] of this.#held) {
      clearTimeout(timer);
      void delivery.release();
    }
    this.#held.clear();
  }

  /** The topics to consume now: exact ones, those matching a wildcard pattern, and the retry topic. */
  async #topics(): Promise<string[]> {
    const topics = new Set([...this.#exact, this.#retryTopic]);
    if (this.#wildcards) {
      for (const topic of await this.#broker.listTopics()) {
        if (this.#matches(topic) && !topic.startsWith('meshkit-retry.')) topics.add(topic);
      }
    }
    return [...topics].sort();
  }

  #scheduleRefresh(): void {
    this.#refreshTimer = setTimeout(() => {
      void this.#refresh().finally(() => {
        if (!this.#stopped) this.#scheduleRefresh();
      });
    }, this.#broker.options.topicRefreshMs);
    this.#refreshTimer.unref();
  }

  /** Rejoins with a new topic list when wildcard patterns match topics created since. */
  async #refresh(): Promise<void> {
    try {
      const topics = await this.#topics();
      const current = this.#session?.topics ?? [];
      if (this.#stopped || topics.join('\n') === current.join('\n')) return;
      const old = this.#session;
      this.#session = undefined;
      // Handed-out records get the same grace as in a rebalance before the member leaves.
      if (old !== undefined) await this.#closeSession(old, this.#broker.options.rebalanceDrainMs);
      if (!this.#stopped) await this.#open(topics);
    } catch (error) {
      if (kafkaChannels.consumerError.hasSubscribers) {
        kafkaChannels.consumerError.publish({ group: this.#options.group, error });
      }
    }
  }

  async #open(topics: string[]): Promise<void> {
    const o = this.#broker.options;
    const consumer = new Consumer<string, Buffer, Buffer, Buffer>({
      clientId: o.clientId,
      bootstrapBrokers: o.brokers,
      groupId: this.#options.group,
      retries: o.retries,
      retryDelay: o.retryDelayMs,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      rebalanceTimeout: rebalanceTimeoutOf(o),
      autocommit: false,
      maxWaitTime: 500,
      // The stream reads ahead one fetch past its high-water mark: the Java client's per-partition
      // bound keeps that to about a megabyte per partition instead of the client's 50 MB.
      maxBytesPerPartition: 1_048_576,
      highWaterMark: Math.max(16, this.#options.prefetch),
      deserializers: {
        key: stringDeserializer,
        // Header names and values are read as bytes: see headerNameOf() and headerValueOf().
        headerKey: asIs,
        headerValue: asIs,
      },
    });
    this.#opening = consumer;
    const session: Session = {
      topics,
      consumer,
      stream: undefined,
      partitions: new Map(),
      last: undefined,
      lastTopic: '',
      lastPartition: -1,
      joined: false,
      aliveAt: Date.now(),
      closed: false,
    };
    this.#session = session;
    // Group errors the client reports while it retries (a failed rejoin): observed, never thrown.
    consumer.on('error', (error) => this.#reportError(error));
    consumer.on('consumer:group:join', (payload) => this.#assigned(session, payload.assignments ?? []));
    consumer.on('consumer:heartbeat:end', () => {
      session.aliveAt = Date.now();
    });
    let failed: (error: unknown) => void = () => {};
    const joined = new Promise<void>((resolve, reject) => {
      failed = reject;
      consumer.once('consumer:group:join', () => resolve());
    });
    try {
      await this.#consume(session, topics, failed);
      await joined;
    } catch (error) {
      session.closed = true;
      if (this.#session === session) this.#session = undefined;
      await this.#closeConsumer(consumer, session.stream);
      throw error;
    } finally {
      if (this.#opening === consumer) this.#opening = undefined;
    }
  }

  /** Starts the session's message stream; `failed` is called if it ends before the group is joined. */
  async #consume(session: Session, topics: string[], failed: (error: unknown) => void): Promise<void> {
    const consumer = session.consumer;
    const stream = await consumer.consume({
      topics,
      autocommit: false,
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      // Called before every JoinGroup: the point where this member gives its partitions up.
      protocolsMetadata: async () => {
        await this.#drain(session);
        return Buffer.alloc(0);
      },
    });
    session.stream = stream;
    let lastError: unknown;
    // Pulled, not flowing: what is not read stays in the stream, which stops fetching at its high-water
    // mark. (Pausing a flowing stream does not: each resume starts another fetch, so the read-ahead grows.)
    stream.on('readable', () => this.#pull(session));
    stream.on('error', (error) => {
      lastError = error;
      this.#reportError(error);
    });
    // The client ends the stream when it gives up (the broker stayed away past its retries).
    stream.on('close', () => {
      const error = lastError ?? new Error('Kafka message stream closed');
      failed(error);
      this.#lost(session, error);
    });
  }

  /** Hands records out of the stream while fewer than `prefetch` are unsettled. */
  #pull(session: Session): void {
    const stream = session.stream;
    if (stream === undefined) return;
    const prefetch = this.#options.prefetch;
    while (this.#unsettled < prefetch) {
      if (this.#stopped || this.#draining || session.closed || session !== this.#session) return;
      const record = stream.read() as Record | null;
      if (record === null) return;
      this.#receive(session, record);
    }
  }

  /**
   * Pulls again on the next turn of the event loop, not now: handlers settle in microtasks, and pulling
   * from a settle would hand out the whole buffered backlog without ever letting the loop read a socket
   * (commit answers, heartbeats).
   */
  #schedulePull(): void {
    if (this.#pullScheduled) return;
    this.#pullScheduled = true;
    setImmediate(() => {
      this.#pullScheduled = false;
      // The session reading now: the one that scheduled may have been replaced meanwhile.
      const session = this.#session;
      if (session !== undefined) this.#pull(session);
    });
  }

  #reportError(error: unknown): void {
    if (kafkaChannels.consumerError.hasSubscribers) {
      kafkaChannels.consumerError.publish({ group: this.#options.group, error });
    }
  }

  /**
   * The session's consumer gave up. Its handed-out records can no longer be committed (their settling
   * does nothing; the group redelivers them); a new consumer is opened with backoff until one joins.
   */
  #lost(session: Session, error: unknown): void {
    if (!session.joined || session.closed || session !== this.#session || this.#stopped) return;
    this.#session = undefined;
    session.closed = true;
    for (const partition of session.partitions.values()) partition.revoked = true;
    session.partitions.clear();
    session.last = undefined;
    this.#releaseHeld();
    this.#owned.clear();
    this.#counts.lost();
    this.#draining = false;
    // Leaving the group may wait for the broker: not awaited here, but close() waits for it.
    const closing = this.#closeConsumer(session.consumer, session.stream);
    this.#closing.add(closing);
    void closing.then(() => this.#closing.delete(closing));
    if (kafkaChannels.reopen.hasSubscribers) {
      kafkaChannels.reopen.publish({ group: this.#options.group, state: 'lost', attempt: 0, error });
    }
    this.#reopening ??= this.#reopen(error).finally(() => {
      this.#reopening = undefined;
    });
  }

  /** Opens new sessions, `reopenInitialDelayMs`…`reopenMaxDelayMs` apart, until one joins or the subscription stops. */
  async #reopen(cause: unknown): Promise<void> {
    let error = cause;
    let previousMs = 0;
    for (let attempt = 1; !this.#stopped; attempt++) {
      const delayMs = this.#reopenBackoff.delayMs(attempt, previousMs);
      previousMs = delayMs;
      if (kafkaChannels.reopen.hasSubscribers) {
        kafkaChannels.reopen.publish({
          group: this.#options.group,
          state: 'reopen-scheduled',
          attempt,
          delayMs,
          error,
        });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.#wakeReopen = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (this.#stopped) return;
      try {
        await this.#open(await this.#topics());
      } catch (failure) {
        error = failure;
        continue;
      }
      if (this.#stopped) return;
      if (kafkaChannels.reopen.hasSubscribers) {
        kafkaChannels.reopen.publish({ group: this.#options.group, state: 'reopened', attempt });
      }
      return;
    }
  }

  /** Leaves the group after waiting `drainMs` for handed-out records to settle and committing them. */
  async #closeSession(session: Session, drainMs = 0): Promise<void> {
    await this.#drain(session, drainMs);
    session.closed = true;
    for (const partition of session.partitions.values()) partition.revoked = true;
    session.partitions.clear();
    session.last = undefined;
    await this.#closeConsumer(session.consumer, session.stream);
  }

  /**
   * Closes a consumer and its stream so that no socket of theirs outlives this call. The client's own
   * `close()` leaves the group first and, when that fails (a LeaveGroup refused right after a broker
   * restart, while the group coordinator is still loading, or a stream that fails to close), it reports
   * the error and keeps its connections open, marked as not closed. The member is then dropped without
   * leaving: its connections are closed and the group expires it after the session timeout, as after a
   * crash (its partitions' uncommitted records are read again by their next owner).
   */
  async #closeConsumer(consumer: Consumer<string, Buffer, Buffer, Buffer>, stream?: Stream): Promise<void> {
    try {
      if (stream !== undefined && !stream.closed) await stream.close();
    } catch (error) {
      this.#reportError(error);
      stream?.destroy();
    }
    try {
      await consumer.close(true);
    } catch (error) {
      this.#reportError(error);
      await Base.prototype.close.call(consumer).catch((failure: unknown) => this.#reportError(failure));
    }
  }

  /** A (re)join finished: forget partitions this member no longer owns, start tracking new ones. */
  #assigned(session: Session, assignments: readonly GroupAssignment[]): void {
    session.joined = true;
    session.aliveAt = Date.now();
    const owned = new Set<string>();
    for (const a of assignments) for (const p of a.partitions) owned.add(`${a.topic}:${p}`);
    for (const [key, partition] of [...session.partitions]) {
      if (owned.has(key)) continue;
      partition.revoked = true;
      session.partitions.delete(key);
    }
    session.last = undefined;
    for (const key of this.#owned) if (!owned.has(key)) this.#counts.revoked(key);
    const taken = [...owned].filter((key) => !this.#owned.has(key));
    this.#owned = owned;
    void this.#learnEndOffsets(session, taken);
    if (kafkaChannels.assigned.hasSubscribers) {
      kafkaChannels.assigned.publish({ group: this.#options.group, partitions: [...owned].sort() });
    }
    this.#draining = false;
    if (session === this.#session) this.#schedulePull();
  }

  /**
   * The end offsets of partitions this member was just given: records from there on were published
   * after it took them, so their first hand-out here is their first delivery (see {@link DeliveryCounts}).
   */
  async #learnEndOffsets(session: Session, taken: readonly string[]): Promise<void> {
    if (taken.length === 0) return;
    const tokens = new Map(taken.map((key) => [key, this.#counts.assigned(key)]));
    const partitions: { [topic: string]: number[] } = {};
    for (const key of taken) {
      const cut = key.lastIndexOf(':');
      const topic = key.slice(0, cut);
      partitions[topic] = [...(partitions[topic] ?? []), Number(key.slice(cut + 1))];
    }
    try {
      const ends = await session.consumer.listOffsets({ topics: Object.keys(partitions), partitions });
      for (const [key, token] of tokens) {
        const cut = key.lastIndexOf(':');
        const end = ends.get(key.slice(0, cut))?.[Number(key.slice(cut + 1))];
        if (end !== undefined && end >= 0n) this.#counts.endOffsetAt(key, token, end);
      }
    } catch (error) {
      // Without them, first hand-outs report an unknown count.
      this.#reportError(error);
    }
  }

  /**
   * Before giving partitions up: stop fetching, wait for what was handed out to settle (at most
   * `rebalanceDrainMs`), then commit what is done. What is still running is redelivered to the next owner.
   */
  async #drain(session: Session, waitMs = this.#broker.options.rebalanceDrainMs): Promise<void> {
    this.#draining = true;
    this.#releaseHeld();
    if (this.#unsettled > 0 && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#drainWaiters.push(done);
      });
    }
    await this.#flush(session).catch(() => {});
    this.#draining = false;
  }

  #receive(session: Session, record: Record): void {
    if (session.closed || session !== this.#session) return;
    // Records come in runs of one partition: look the partition up only when it changes.
    let offsets = session.last;
    if (
      offsets === undefined ||
      session.lastTopic !== record.topic ||
      session.lastPartition !== record.partition
    ) {
      const key = `${record.topic}:${record.partition}`;
      offsets = session.partitions.get(key);
      if (offsets === undefined) {
        const owned = session.consumer.assignments?.some(
          (a) => a.topic === record.topic && a.partitions.includes(record.partition),
        );
        if (owned !== true) return;
        offsets = new PartitionOffsets(record.topic, record.partition, record.offset);
        session.partitions.set(key, offsets);
        // Fetching starts at the committed offset: what this member counted below it is settled.
        this.#counts.committed(key, record.offset);
      }
      session.last = offsets;
      session.lastTopic = record.topic;
      session.lastPartition = record.partition;
    }
    if (this.#stopped || !offsets.take(record.offset)) return;
    offsets.leaderEpoch = record.leaderEpoch;
    this.#unsettled++;
    const headers: { [name: string]: string } = {};
    for (const [bytes, value] of record.headers) {
      const name = headerNameOf(bytes);
      headers[name] = headerValueOf(name, value);
    }
    let topic = record.topic;
    let dueAt = 0;
    if (topic === this.#retryTopic) {
      topic = headers[retryHeaderNames.topic] ?? topic;
      dueAt = Number(headers[retryHeaderNames.due] ?? 0);
      delete headers[retryHeaderNames.topic];
      delete headers[retryHeaderNames.due];
    }
    if (this.#broker.options.plainRecords === 'wrap') {
      wrapPlainRecord(headers, record.topic, record.partition, record.offset, record.timestamp);
    }
    const deliveryCount = this.#counts.handOut(offsets.key, record.offset);
    const delivery = new KafkaDelivery(this, session, offsets, record, topic, headers, deliveryCount);
    const wait = dueAt === 0 ? 0 : dueAt - Date.now();
    if (wait <= 0) {
      this.#options.onDelivery(delivery);
      return;
    }
    const timer = setTimeout(() => {
      this.#held.delete(timer);
      this.#options.onDelivery(delivery);
    }, wait);
    this.#held.set(timer, delivery);
  }

  /** @internal Marks a delivery settled and commits what became contiguous. */
  settled(session: Session, offsets: PartitionOffsets, offset: bigint): Promise<void> {
    this.#unsettled--;
    if (this.#unsettled === 0) for (const w of this.#drainWaiters.splice(0)) w();
    this.#pullIfRoom();
    // A partition given up meanwhile: its next owner redelivers the record.
    if (session.closed || offsets.revoked) return Promise.resolve();
    offsets.settle(offset);
    return this.#flush(session);
  }

  /** Released (not done): counts as settled for prefetch, commits nothing; `given` back unprocessed. */
  released(given?: { partition: string; offset: bigint }): void {
    if (given !== undefined) this.#counts.released(given.partition, given.offset);
    this.#unsettled--;
    if (this.#unsettled === 0) for (const w of this.#drainWaiters.splice(0)) w();
    this.#pullIfRoom();
  }

  /** Pulls again once half the prefetch is free (in runs, not per record). */
  #pullIfRoom(): void {
    if (this.#pullScheduled || this.#unsettled > this.#options.prefetch >> 1) return;
    if (this.#stopped || this.#draining || this.#session === undefined) return;
    this.#schedulePull();
  }

  /** Commits, in one request, every partition whose commit point moved; coalesces concurrent callers. */
  #flush(session: Session): Promise<void> {
    // The session is passed, not read from #session: a session being closed (stop, topic change) still
    // commits what settles while it drains.
    this.#flushing = session;
    this.#commitQueued ??= this.#commitRunning.then(() => {
      this.#commitQueued = undefined;
      const flushing = this.#flushing;
      const run = this.#commitNow(flushing);
      this.#commitRunning = run.catch(() => {});
      // A commit cut off by the session closing (the subscription closed meanwhile) is not a failure to
      // report: what it would have committed is read again by the partition's next owner.
      return run.catch((error: unknown) => {
        if (flushing?.closed !== true) throw error;
      });
    });
    return this.#commitQueued;
  }

  async #commitNow(session: Session | undefined): Promise<void> {
    if (session === undefined || session.closed) return;
    const offsets = [];
    const moved: [PartitionOffsets, bigint][] = [];
    for (const partition of session.partitions.values()) {
      const point = partition.commitPoint();
      if (point === undefined) continue;
      offsets.push({
        topic: partition.topic,
        partition: partition.partition,
        offset: point,
        leaderEpoch: partition.leaderEpoch,
      });
      moved.push([partition, point]);
    }
    if (offsets.length === 0) return;
    await session.consumer.commit({ offsets });
    for (const [partition, point] of moved) {
      partition.committedTo(point);
      this.#counts.committed(partition.key, point);
    }
  }

  /** @internal Republishes for a retry or dead letter. */
  move(record: BrokerRecord): Promise<void> {
    return this.#broker.move([record]);
  }

  get retryTopic(): string {
    return this.#retryTopic;
  }
}

/** How long the group waits for members to rejoin in a rebalance: the drain and some slack. */
function rebalanceTimeoutOf(o: ResolvedKafkaOptions): number {
  return Math.max(o.sessionTimeoutMs, o.rebalanceDrainMs + 5_000);
}

/** One record handed to the subscriber. */
class KafkaDelivery implements Delivery {
  readonly topic: string;
  readonly key: string | undefined;
  readonly headers: Readonly<{ [name: string]: string }>;
  readonly body: Uint8Array;
  /** See {@link DeliveryCounts}: `undefined` when this member cannot know. */
  readonly deliveryCount: number | undefined;
  readonly #subscription: KafkaSubscription;
  readonly #session: Session;
  readonly #offsets: PartitionOffsets;
  readonly #offset: bigint;
  #settled = false;

  constructor(
    subscription: KafkaSubscription,
    session: Session,
    offsets: PartitionOffsets,
    record: Record,
    topic: string,
    headers: { [name: string]: string },
    deliveryCount: number | undefined,
  ) {
    this.deliveryCount = deliveryCount;
    this.#subscription = subscription;
    this.#session = session;
    this.#offsets = offsets;
    this.#offset = record.offset;
    this.topic = topic;
    this.key = record.key === undefined || record.key === null ? undefined : record.key;
    this.headers = headers;
    this.body = record.value ?? new Uint8Array(0);
  }

  get position(): string {
    return `${this.#offsets.topic}/${this.#offsets.partition}/${this.#offset}`;
  }

  ack(): Promise<void> {
    if (!this.#claim()) return Promise.resolve();
    return this.#subscription.settled(this.#session, this.#offsets, this.#offset);
  }

  async retryLater(request: RetryRequest): Promise<void> {
    if (!this.#claim()) return;
    try {
      await this.#subscription.move({
        topic: this.#subscription.retryTopic,
        key: this.key,
        headers: {
          ...this.headers,
          ...request.headers,
          [retryHeaderNames.topic]: this.topic,
          [retryHeaderNames.due]: String(Date.now() + request.delayMs),
        },
        body: this.body,
      });
    } catch (error) {
      this.#subscription.released();
      throw error;
    }
    await this.#subscription.settled(this.#session, this.#offsets, this.#offset);
  }

  async deadLetter(request: DeadLetterRequest): Promise<void> {
    if (!this.#claim()) return;
    try {
      await this.#subscription.move({
        topic: request.topic,
        key: this.key,
        headers: { ...this.headers, ...request.headers },
        body: this.body,
      });
    } catch (error) {
      this.#subscription.released();
      throw error;
    }
    await this.#subscription.settled(this.#session, this.#offsets, this.#offset);
  }

  async release(): Promise<void> {
    if (!this.#claim()) return;
    this.#subscription.released({ partition: this.#offsets.key, offset: this.#offset });
  }

  #claim(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    return true;
  }
}
