import { type Clock, ErrorCode, MeshError, systemClock, type TimerHandle } from '@meshkit/core';
import { checkInteger } from '@meshkit/core/internal';
import type {
  Broker,
  BrokerRecord,
  DeadLetterRequest,
  Delivery,
  PublishResult,
  RetryRequest,
  SubscribeOptions,
  Subscription,
} from './broker.ts';
import { checkGroupStart } from './broker.ts';
import { checkTopic, compilePatterns, type TopicMatcher } from './pattern.ts';

/**
 * An in-process broker with the full delivery semantics of the port (groups, prefetch, delayed retry,
 * dead-letter topics, redelivery after a member vanishes) and no durability: for tests and for wiring
 * services inside one process. Messages published to a topic no group is bound to are discarded, as an
 * AMQP topic exchange does.
 */

/** Options of {@link memoryBroker}. */
export interface MemoryBrokerOptions {
  /** Clock for retry delays and visibility timeouts. Defaults to the system clock. */
  readonly clock?: Clock;
  /** Largest body accepted, in bytes; larger records are refused. Defaults to 1 MiB. */
  readonly maxMessageBytes?: number;
  /** How long an abandoned connection's deliveries stay leased before redelivery, ms. Defaults to 30,000. */
  readonly visibilityTimeoutMs?: number;
}

interface Entry {
  readonly seq: number;
  readonly topic: string;
  readonly key: string | undefined;
  headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  owner: Member | undefined;
  deliveries: number;
  timer: TimerHandle | undefined;
}

interface Member {
  readonly connection: MemoryBroker;
  readonly options: SubscribeOptions;
  readonly held: Set<Entry>;
  active: boolean;
}

interface Group {
  readonly name: string;
  patterns: string[];
  matches: TopicMatcher;
  /** Available entries in sequence order. */
  readonly ready: SeqQueue;
  readonly members: Member[];
  next: number;
}

/**
 * Entries in sequence order with O(1) removal from the front (a backlog of 100,000 must not make
 * every delivery copy the array) and ordered insertion for the rare requeue.
 */
class SeqQueue {
  #items: Entry[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(entry: Entry): void {
    this.#items.push(entry);
  }

  shift(): Entry | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const entry = this.#items[this.#head++]!;
    if (this.#head > 1_024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return entry;
  }

  /** Inserts keeping sequence order, so a released message goes back where it was. */
  insert(entry: Entry): void {
    let lo = this.#head;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#items[mid]!.seq < entry.seq) lo = mid + 1;
      else hi = mid;
    }
    this.#items.splice(lo, 0, entry);
  }
}

class MemoryStore {
  readonly clock: Clock;
  readonly maxMessageBytes: number;
  readonly visibilityTimeoutMs: number;
  readonly groups = new Map<string, Group>();
  seq = 0;

  constructor(options: MemoryBrokerOptions) {
    this.clock = options.clock ?? systemClock;
    this.maxMessageBytes = checkInteger(
      'memoryBroker.maxMessageBytes',
      options.maxMessageBytes ?? 1 << 20,
      0,
    );
    this.visibilityTimeoutMs = checkInteger(
      'memoryBroker.visibilityTimeoutMs',
      options.visibilityTimeoutMs ?? 30_000,
      1,
    );
  }

  /** Finds or creates a group and adds `patterns` to its bindings. */
  ensureGroup(name: string, patterns: readonly string[]): Group {
    let group = this.groups.get(name);
    if (group === undefined) {
      group = { name, patterns: [], matches: () => false, ready: new SeqQueue(), members: [], next: 0 };
      this.groups.set(name, group);
    }
    if (patterns.some((p) => !group.patterns.includes(p))) {
      // A group's bindings are the union of every member's patterns, as an AMQP queue's are.
      group.patterns = [...new Set([...group.patterns, ...patterns])];
      group.matches = compilePatterns(group.patterns);
    }
    return group;
  }

  append(record: BrokerRecord): number {
    const seq = ++this.seq;
    for (const group of this.groups.values()) {
      if (!group.matches(record.topic)) continue;
      group.ready.push({
        seq,
        topic: record.topic,
        key: record.key,
        headers: { ...record.headers },
        body: record.body,
        owner: undefined,
        deliveries: 0,
        timer: undefined,
      });
      this.dispatchSoon(group);
    }
    return seq;
  }

  requeue(group: Group, entry: Entry): void {
    entry.owner = undefined;
    group.ready.insert(entry);
    this.dispatchSoon(group);
  }

  #pending = new Set<Group>();
  dispatchSoon(group: Group): void {
    if (this.#pending.has(group)) return;
    this.#pending.add(group);
    queueMicrotask(() => {
      this.#pending.delete(group);
      this.dispatch(group);
    });
  }

  dispatch(group: Group): void {
    while (group.ready.length > 0) {
      const member = this.#nextMember(group);
      if (member === undefined) return;
      const entry = group.ready.shift()!;
      entry.owner = member;
      entry.deliveries++;
      member.held.add(entry);
      member.options.onDelivery(new MemoryDelivery(this, group, member, entry));
    }
  }

  #nextMember(group: Group): Member | undefined {
    for (let i = 0; i < group.members.length; i++) {
      const member = group.members[(group.next + i) % group.members.length]!;
      if (member.active && member.held.size < member.options.prefetch) {
        group.next = (group.next + i + 1) % group.members.length;
        return member;
      }
    }
    return undefined;
  }
}

class MemoryDelivery implements Delivery {
  readonly topic: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly position: string;
  readonly deliveryCount: number;
  readonly #store: MemoryStore;
  readonly #group: Group;
  readonly #member: Member;
  readonly #entry: Entry;

  constructor(store: MemoryStore, group: Group, member: Member, entry: Entry) {
    this.#store = store;
    this.#group = group;
    this.#member = member;
    this.#entry = entry;
    this.topic = entry.topic;
    this.key = entry.key;
    this.headers = entry.headers;
    this.body = entry.body;
    this.position = String(entry.seq);
    this.deliveryCount = entry.deliveries;
  }

  /** Settles if this member still holds the entry; otherwise the message was already reassigned. */
  #take(): boolean {
    const entry = this.#entry;
    if (entry.owner !== this.#member || !this.#member.held.has(entry)) return false;
    this.#member.held.delete(entry);
    entry.owner = undefined;
    this.#store.dispatchSoon(this.#group);
    return true;
  }

  async ack(): Promise<void> {
    this.#take();
  }

  async retryLater(request: RetryRequest): Promise<void> {
    if (!this.#take()) return;
    const entry = this.#entry;
    entry.headers = { ...entry.headers, ...request.headers };
    entry.deliveries = 0;
    entry.timer = this.#store.clock.setTimeout(() => {
      entry.timer = undefined;
      this.#store.requeue(this.#group, entry);
    }, request.delayMs);
  }

  async deadLetter(request: DeadLetterRequest): Promise<void> {
    if (!this.#take()) return;
    // Dead letters are kept in a group named after their topic until someone reads them.
    this.#store.ensureGroup(request.topic, [request.topic]);
    this.#store.append({
      topic: request.topic,
      key: this.key,
      headers: { ...this.headers, ...request.headers },
      body: this.body,
    });
  }

  async release(): Promise<void> {
    if (!this.#take()) return;
    this.#entry.deliveries = Math.max(0, this.#entry.deliveries - 1);
    this.#store.requeue(this.#group, this.#entry);
  }
}

/**
 * One connection to an in-memory store. {@link MemoryBroker.connect} opens another connection to the
 * same store (another "process"); {@link MemoryBroker.abandon} drops one as if its process died.
 */
export class MemoryBroker implements Broker {
  readonly name = 'memory';
  readonly #store: MemoryStore;
  readonly #members = new Set<Member>();
  #closed = false;

  /** @internal use {@link memoryBroker}. */
  constructor(store: MemoryStore) {
    this.#store = store;
  }

  /** Another connection to the same store. */
  connect(): MemoryBroker {
    return new MemoryBroker(this.#store);
  }

  async publish(records: readonly BrokerRecord[]): Promise<PublishResult[]> {
    if (this.#closed) {
      const error = new MeshError(ErrorCode.CLOSED, 'broker connection is closed', { rejected: true });
      return records.map(() => ({ ok: false, error }));
    }
    return records.map((record): PublishResult => {
      const problem = checkRecord(record, this.#store.maxMessageBytes);
      if (problem !== undefined) {
        return { ok: false, error: new MeshError(ErrorCode.BROKER_REJECTED, problem, { rejected: true }) };
      }
      return { ok: true, position: String(this.#store.append(record)) };
    });
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.#closed) throw new MeshError(ErrorCode.CLOSED, 'broker connection is closed');
    checkGroupStart(options.from, 'memory', ['now']);
    const store = this.#store;
    const g = store.ensureGroup(options.group, options.patterns);
    const member: Member = { connection: this, options, held: new Set(), active: true };
    g.members.push(member);
    this.#members.add(member);
    store.dispatchSoon(g);
    return {
      stop: async () => {
        member.active = false;
      },
      close: async () => {
        member.active = false;
        this.#leave(g, member, true);
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const member of [...this.#members]) {
      const group = this.#store.groups.get(member.options.group)!;
      this.#leave(group, member, true);
    }
  }

  /**
   * Drops the connection as a crashed process would: held messages stay leased until the visibility
   * timeout passes, then go to other members.
   */
  abandon(): void {
    this.#closed = true;
    for (const member of [...this.#members]) {
      const group = this.#store.groups.get(member.options.group)!;
      this.#leave(group, member, false);
    }
  }

  #leave(group: Group, member: Member, release: boolean): void {
    member.active = false;
    this.#members.delete(member);
    const i = group.members.indexOf(member);
    if (i >= 0) group.members.splice(i, 1);
    const store = this.#store;
    for (const entry of member.held) {
      if (release) {
        entry.deliveries = Math.max(0, entry.deliveries - 1);
        store.requeue(group, entry);
      } else {
        entry.timer = store.clock.setTimeout(() => {
          entry.timer = undefined;
          if (entry.owner === member) store.requeue(group, entry);
        }, store.visibilityTimeoutMs);
      }
    }
    member.held.clear();
  }
}

/**
 * Creates an in-memory broker.
 *
 * @example
 * ```ts
 * import { FakeClock } from '@meshkit/core';
 * const broker = memoryBroker({ clock: new FakeClock() });
 * const events = publisher(broker, { source: '/test' });
 * ```
 */
export function memoryBroker(options: MemoryBrokerOptions = {}): MemoryBroker {
  return new MemoryBroker(new MemoryStore(options));
}

/** Checks a record's shape; returns why it is refused, or `undefined`. Shared by adapters. */
export function checkRecord(record: BrokerRecord, maxMessageBytes: number): string | undefined {
  try {
    checkTopic('topic', record.topic);
  } catch (error) {
    return (error as Error).message;
  }
  if (!(record.body instanceof Uint8Array)) return 'body must be a Uint8Array';
  if (record.body.byteLength > maxMessageBytes) {
    return `message of ${record.body.byteLength} bytes exceeds the broker limit of ${maxMessageBytes} bytes`;
  }
  return undefined;
}
