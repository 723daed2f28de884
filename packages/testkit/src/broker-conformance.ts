import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { exponentialBackoff, isMeshError } from '@meshkit/core';
import {
  type Broker,
  type ConsumeOptions,
  type Consumer,
  consume,
  consumeBatch,
  type Delivery,
  headerNames,
  type Message,
  publisher,
  type Settlement,
  settle,
} from '@meshkit/messaging';

/** Options of {@link brokerConformance}. */
export interface BrokerConformanceOptions {
  /** A body size the adapter under test refuses (its configured message-size limit is below this). */
  readonly oversizeBytes: number;
  /**
   * Ends a connection the way a killed process would (no release of what it holds). Defaults to
   * `broker.close()`, which suits engines that requeue on disconnect (AMQP, Kafka rebalance).
   */
  readonly crash?: (broker: Broker) => Promise<void> | void;
  /** Messages in the bulk tests. Defaults to 10,000. */
  readonly messages?: number;
  /** How long to wait for any expected outcome, ms. Defaults to 20,000. */
  readonly timeoutMs?: number;
  /**
   * The adapter keeps a key's messages in order across competing members (SQLite, Kafka); adds a test
   * with two members. Defaults to `false` (RabbitMQ, memory).
   */
  readonly keyOrderAcrossMembers?: boolean;
}

/** Waits for a condition that an event handler will make true; fails the test after `ms`. */
class Waiter {
  #resolve: (() => void) | undefined;
  #check: () => boolean;
  constructor(check: () => boolean) {
    this.#check = check;
  }
  poke(): void {
    if (this.#resolve !== undefined && this.#check()) this.#resolve();
  }
  wait(ms: number, what: string): Promise<void> {
    if (this.#check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      this.#resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/**
 * The conformance suite every broker adapter must pass, on `node:test`. `connect()` opens a new
 * connection to one shared broker (each call is a separate "process"); every test uses fresh topic and
 * group names, so the broker needs no reset between tests.
 *
 * @example
 * ```ts
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * import { SqliteBroker, sqliteBroker } from '@meshkit/messaging-sqlite';
 * const path = join(mkdtempSync(join(tmpdir(), 'mk-')), 'broker.db');
 * brokerConformance('sqlite', async () => sqliteBroker({ path, visibilityTimeoutMs: 500, maxMessageBytes: 1024 }), {
 *   oversizeBytes: 2048,
 *   crash: (b) => (b as SqliteBroker).abandon(),
 * });
 * ```
 */
export function brokerConformance(
  name: string,
  connect: () => Promise<Broker>,
  options: BrokerConformanceOptions,
): void {
  const total = options.messages ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const crash = options.crash ?? ((b: Broker) => b.close());
  const open: Broker[] = [];
  const connection = async (): Promise<Broker> => {
    const broker = await connect();
    open.push(broker);
    return broker;
  };
  const fresh = (): string => randomUUID().slice(0, 8);
  const fast = {
    maxAttempts: 3,
    backoff: exponentialBackoff({ baseDelayMs: 5, maxDelayMs: 20, jitter: 'equal' }),
  };

  /** A consumer recording every handled message id (in order) and duplicates. */
  async function recorder(
    broker: Broker,
    opts: Omit<ConsumeOptions, 'handler'>,
    handle?: (msg: Message) => Promise<void>,
  ): Promise<{ consumer: Consumer; ids: string[]; seen: Set<string>; waiter: (n: number) => Waiter }> {
    const ids: string[] = [];
    const seen = new Set<string>();
    const waiters: Waiter[] = [];
    const consumer = await consume(broker, {
      ...opts,
      handler: async (msg) => {
        if (handle !== undefined) await handle(msg);
        ids.push(msg.id);
        seen.add(msg.id);
        for (const w of waiters) w.poke();
      },
    });
    return {
      consumer,
      ids,
      seen,
      waiter: (n) => {
        const w = new Waiter(() => seen.size >= n);
        waiters.push(w);
        return w;
      },
    };
  }

  /** Reads a dead-letter topic with a raw subscription, acking everything. */
  async function deadLetters(broker: Broker, topic: string): Promise<{ got: Delivery[]; waiter: Waiter }> {
    const got: Delivery[] = [];
    const waiter = new Waiter(() => got.length > 0);
    await broker.subscribe({
      group: topic,
      patterns: [topic],
      prefetch: 100,
      onDelivery: (d) => {
        got.push(d);
        void d.ack();
        waiter.poke();
      },
    });
    return { got, waiter };
  }

  describe(`broker conformance: ${name}`, () => {
    after(async () => {
      for (const b of open) await b.close().catch(() => {});
    });

    it(`every group receives exactly the published id set (${total} messages, 2 groups)`, async () => {
      const broker = await connection();
      const topic = `conf.${fresh()}.created`;
      const a = await recorder(broker, {
        group: `a-${fresh()}`,
        patterns: ['conf.*.created'],
        concurrency: 8,
        prefetch: 500,
      });
      const b = await recorder(broker, {
        group: `b-${fresh()}`,
        topics: [topic],
        concurrency: 1,
        prefetch: 500,
      });
      const events = publisher(broker, { source: '/conformance' });
      const outcomes = await events.publishBatch(
        Array.from({ length: total }, (_, i) => ({ topic, data: { i }, key: `k${i % 64}` })),
      );
      assert.ok(outcomes.every((o) => o.ok));
      const published = new Set(outcomes.map((o) => o.id));
      await Promise.all([
        a.waiter(total).wait(timeoutMs, 'group a'),
        b.waiter(total).wait(timeoutMs, 'group b'),
      ]);
      await Promise.all([a.consumer.stop(), b.consumer.stop()]);
      for (const r of [a, b]) {
        assert.deepEqual(r.seen, published);
        assert.equal(r.ids.length, total, 'no duplicates in a clean run');
      }
    });

    it('competing consumers in one group share the load, each message handled once', async () => {
      const [c1, c2] = [await connection(), await connection()];
      const topic = `conf.${fresh()}`;
      const group = `g-${fresh()}`;
      const slow = () => new Promise<void>((r) => setTimeout(r, 1));
      const m1 = await recorder(c1, { group, topics: [topic], concurrency: 4, prefetch: 10 }, slow);
      const m2 = await recorder(c2, { group, topics: [topic], concurrency: 4, prefetch: 10 }, slow);
      const n = 1_000;
      await publisher(c1, { source: '/conformance' }).publishBatch(
        Array.from({ length: n }, (_, i) => ({ topic, data: i })),
      );
      const both = new Waiter(() => m1.seen.size + m2.seen.size >= n);
      const poke = setInterval(() => both.poke(), 5);
      try {
        await both.wait(timeoutMs, 'both members');
      } finally {
        clearInterval(poke);
      }
      await Promise.all([m1.consumer.stop(), m2.consumer.stop()]);
      assert.equal(m1.ids.length + m2.ids.length, n);
      assert.equal(new Set([...m1.ids, ...m2.ids]).size, n);
      assert.ok(m1.ids.length > n / 10 && m2.ids.length > n / 10, `shares ${m1.ids.length}/${m2.ids.length}`);
    });

    it('a consumer killed mid-stream has its messages redelivered to another member, none lost', async () => {
      const [doomed, survivor] = [await connection(), await connection()];
      const topic = `conf.${fresh()}`;
      const group = `g-${fresh()}`;
      let taken = 0;
      const takenSome = new Waiter(() => taken >= 5);
      // The doomed member takes messages and never finishes them.
      await consume(doomed, {
        group,
        topics: [topic],
        concurrency: 5,
        prefetch: 5,
        handler: () => {
          taken++;
          takenSome.poke();
          return new Promise<void>(() => {});
        },
      });
      const n = 200;
      const outcomes = await publisher(survivor, { source: '/conformance' }).publishBatch(
        Array.from({ length: n }, (_, i) => ({ topic, data: i })),
      );
      await takenSome.wait(timeoutMs, 'the doomed member to take messages');
      await crash(doomed);
      const s = await recorder(survivor, { group, topics: [topic], concurrency: 4 });
      await s.waiter(n).wait(timeoutMs, 'redelivery after the crash');
      await s.consumer.stop();
      assert.deepEqual(s.seen, new Set(outcomes.map((o) => o.id)));
    });

    it('a poison message is tried N times, then dead-lettered with the error and attempt count', async () => {
      const broker = await connection();
      const topic = `conf.${fresh()}`;
      const group = `g-${fresh()}`;
      const dlq = `dead-letter.${group}`;
      const dead = await deadLetters(broker, dlq);
      const attempts: number[] = [];
      const consumer = await consume(broker, {
        group,
        topics: [topic],
        retry: fast,
        handler: async (msg) => {
          if (msg.data === 'poison') {
            attempts.push(msg.attempt);
            throw new Error('cannot handle poison');
          }
        },
      });
      const receipt = await publisher(broker, { source: '/conformance' }).publish(topic, 'poison', {
        headers: { 'x-origin': 'test' },
      });
      await dead.waiter.wait(timeoutMs, 'the dead letter');
      await consumer.stop();
      assert.deepEqual(attempts, [1, 2, 3]);
      assert.equal(dead.got.length, 1);
      const h = dead.got[0]!.headers;
      assert.equal(h[headerNames.id], receipt.id);
      assert.equal(h[headerNames.deadLetterReason], 'handler-failed');
      assert.equal(h[headerNames.error], 'cannot handle poison');
      assert.equal(h[headerNames.deadLetterAttempts], '3');
      assert.equal(h[headerNames.attempt], '1', 'a dead-letter consumer starts at attempt 1');
      assert.equal(h[headerNames.originalTopic], topic);
      assert.equal(h['x-origin'], 'test', 'original headers kept');
    });

    it('an undecodable body goes to dead-letter at once, without reaching the handler', async () => {
      const broker = await connection();
      const topic = `conf.${fresh()}`;
      const group = `g-${fresh()}`;
      const dead = await deadLetters(broker, `dead-letter.${group}`);
      let calls = 0;
      const consumer = await consume(broker, {
        group,
        topics: [topic],
        retry: fast,
        handler: async () => {
          calls++;
        },
      });
      const headers = {
        [headerNames.id]: 'bad-body',
        [headerNames.source]: '/conformance',
        [headerNames.type]: topic,
        [headerNames.specVersion]: '1.0',
        [headerNames.contentType]: 'application/json',
      };
      const [result] = await broker.publish([
        { topic, headers, body: new TextEncoder().encode('{not json') },
      ]);
      assert.ok(result?.ok);
      await dead.waiter.wait(timeoutMs, 'the dead letter');
      await consumer.stop();
      assert.equal(calls, 0);
      assert.equal(dead.got[0]!.headers[headerNames.deadLetterReason], 'undecodable');
      assert.equal(dead.got[0]!.headers[headerNames.id], 'bad-body');
    });

    it('messages with the same key are handled in publish order (concurrency 8)', async () => {
      const broker = await connection();
      const topic = `conf.${fresh()}`;
      const seen = new Map<string, number[]>();
      const keys = 8;
      const per = 150;
      const r = await recorder(
        broker,
        { group: `g-${fresh()}`, topics: [topic], concurrency: 8, prefetch: 200 },
        async (msg) => {
          const { k, i } = msg.data as { k: string; i: number };
          seen.set(k, [...(seen.get(k) ?? []), i]);
          if (i % 7 === 0) await new Promise<void>((res) => setTimeout(res, 1));
        },
      );
      const events = publisher(broker, { source: '/conformance' });
      await events.publishBatch(
        Array.from({ length: keys * per }, (_, n) => {
          const k = `key-${n % keys}`;
          return { topic, key: k, data: { k, i: Math.floor(n / keys) } };
        }),
      );
      await r.waiter(keys * per).wait(timeoutMs, 'every keyed message');
      await r.consumer.stop();
      for (const [, order] of seen)
        assert.deepEqual(
          order,
          Array.from({ length: per }, (_, i) => i),
        );
    });

    // Only for adapters that claim it (SQLite, Kafka); RabbitMQ and memory do not.
    if (options.keyOrderAcrossMembers === true)
      it('a key is never in flight at two members and keeps its order across them', async () => {
        const [c1, c2] = [await connection(), await connection()];
        const topic = `conf.${fresh()}`;
        const group = `g-${fresh()}`;
        const keys = 6;
        const per = 40;
        const running = new Set<string>();
        const order = new Map<string, number[]>();
        let overlaps = 0;
        let done = 0;
        const all = new Waiter(() => done >= keys * per);
        const handler = async (msg: Message) => {
          const { k, i } = msg.data as { k: string; i: number };
          if (running.has(k)) overlaps++;
          running.add(k);
          await new Promise<void>((res) => setTimeout(res, i % 3));
          order.set(k, [...(order.get(k) ?? []), i]);
          running.delete(k);
          done++;
          all.poke();
        };
        const members = [
          await consume(c1, { group, topics: [topic], concurrency: 4, prefetch: 20, handler }),
          await consume(c2, { group, topics: [topic], concurrency: 4, prefetch: 20, handler }),
        ];
        const events = publisher(c1, { source: '/conformance' });
        for (let i = 0; i < per; i++) {
          await events.publishBatch(
            Array.from({ length: keys }, (_, k) => ({ topic, key: `k${k}`, data: { k: `k${k}`, i } })),
          );
        }
        await all.wait(timeoutMs, 'every keyed message');
        await Promise.all(members.map((m) => m.stop()));
        assert.equal(overlaps, 0, 'never two messages of one key at once');
        for (const [, seen] of order)
          assert.deepEqual(
            seen,
            Array.from({ length: per }, (_, i) => i),
          );
      });

    it('stops gracefully: running handlers finish, the rest is released, nothing is lost', async () => {
      const broker = await connection();
      const topic = `conf.${fresh()}`;
      const group = `g-${fresh()}`;
      const n = 300;
      let started = 0;
      const startedSome = new Waiter(() => started >= 20);
      const first = await recorder(
        broker,
        { group, topics: [topic], concurrency: 4, prefetch: 50, stopTimeoutMs: 5_000 },
        async () => {
          started++;
          startedSome.poke();
          await new Promise<void>((res) => setTimeout(res, 2));
        },
      );
      const outcomes = await publisher(broker, { source: '/conformance' }).publishBatch(
        Array.from({ length: n }, (_, i) => ({ topic, data: i })),
      );
      await startedSome.wait(timeoutMs, 'handlers to start');
      const t0 = Date.now();
      await first.consumer.stop();
      assert.ok(Date.now() - t0 < 5_000, 'stop finished within its bound');
      assert.equal(first.consumer.active, 0);
      assert.ok(first.ids.length < n, 'stopped mid-stream');
      const handledBeforeStop = new Set(first.seen);
      const second = await recorder(broker, { group, topics: [topic], concurrency: 4 });
      const all = new Waiter(() => handledBeforeStop.size + second.seen.size >= n);
      const poke = setInterval(() => all.poke(), 5);
      try {
        await all.wait(timeoutMs, 'the rest after restart');
      } finally {
        clearInterval(poke);
      }
      await second.consumer.stop();
      assert.deepEqual(new Set([...handledBeforeStop, ...second.seen]), new Set(outcomes.map((o) => o.id)));
      for (const id of handledBeforeStop)
        assert.ok(!second.seen.has(id), 'what finished before stop was acked');
    });

    it('batches: each message handled once, at most maxMessages per batch, keys in publish order', async () => {
      const broker = await connection();
      const topic = `conf.${fresh()}`;
      const keys = 8;
      const per = 60;
      const n = keys * per;
      const order = new Map<string, number[]>();
      const ids: string[] = [];
      let largest = 0;
      const all = new Waiter(() => ids.length >= n);
      const consumer = await consumeBatch(broker, {
        group: `g-${fresh()}`,
        topics: [topic],
        maxMessages: 50,
        maxWaitMs: 20,
        handler: async (messages) => {
          largest = Math.max(largest, messages.length);
          for (const msg of messages) {
            const { k, i } = msg.data as { k: string; i: number };
            order.set(k, [...(order.get(k) ?? []), i]);
            ids.push(msg.id);
          }
          await new Promise<void>((res) => setTimeout(res, 1));
          all.poke();
        },
      });
      const outcomes = await publisher(broker, { source: '/conformance' }).publishBatch(
        Array.from({ length: n }, (_, m) => {
          const k = `key-${m % keys}`;
          return { topic, key: k, data: { k, i: Math.floor(m / keys) } };
        }),
      );
      await all.wait(timeoutMs, 'every batched message');
      await consumer.stop();
      assert.ok(largest <= 50 && largest > 1, `batches of up to 50 (largest ${largest})`);
      assert.equal(ids.length, n, 'no duplicates in a clean run');
      assert.deepEqual(new Set(ids), new Set(outcomes.map((o) => o.id)));
      for (const [, seen] of order)
        assert.deepEqual(
          seen,
          Array.from({ length: per }, (_, i) => i),
        );
    });

    it('a batch handler that throws: every message of the batch is retried, then handled once', async () => {
      const broker = await connection();
      const topic = `conf.${fresh()}`;
      const n = 20;
      const attempts = new Map<string, number[]>();
      let calls = 0;
      const done = new Set<string>();
      const all = new Waiter(() => done.size >= n);
      const consumer = await consumeBatch(broker, {
        group: `g-${fresh()}`,
        topics: [topic],
        retry: fast,
        maxMessages: n,
        maxWaitMs: 200,
        handler: async (messages) => {
          for (const msg of messages) attempts.set(msg.id, [...(attempts.get(msg.id) ?? []), msg.attempt]);
          if (++calls === 1) throw new Error('database away');
          for (const msg of messages) done.add(msg.id);
          all.poke();
        },
      });
      const outcomes = await publisher(broker, { source: '/conformance' }).publishBatch(
        Array.from({ length: n }, (_, i) => ({ topic, data: i })),
      );
      await all.wait(timeoutMs, 'the retried batch');
      await consumer.stop();
      assert.deepEqual(done, new Set(outcomes.map((o) => o.id)));
      const failedFirst = [...attempts.values()].filter((a) => a[0] === 1 && a[1] === 2);
      assert.ok(failedFirst.length > 0, 'the first batch failed and came back at attempt 2');
      for (const [, a] of attempts) assert.ok(a.length <= 2, `handled at most twice (${a.join(',')})`);
    });

    it('a batch handler settles messages one by one: named ones retried or dead-lettered, the rest acked', async () => {
      const broker = await connection();
      const topic = `conf.${fresh()}`;
      const group = `g-${fresh()}`;
      const dead = await deadLetters(broker, `dead-letter.${group}`);
      const handled: string[] = [];
      const all = new Waiter(() => handled.length >= 5 && dead.got.length >= 1);
      const consumer = await consumeBatch(broker, {
        group,
        topics: [topic],
        retry: fast,
        maxMessages: 10,
        maxWaitMs: 100,
        handler: async (messages) => {
          const failed = new Map<Message, Settlement>();
          for (const msg of messages) {
            if (msg.data === 'refused') failed.set(msg, settle.deadLetter('row refused'));
            else if (msg.data === 'locked' && msg.attempt === 1) failed.set(msg, settle.retry('row locked'));
            else handled.push(`${String(msg.data)}#${msg.attempt}`);
          }
          all.poke();
          return failed;
        },
      });
      const poke = setInterval(() => all.poke(), 5);
      try {
        await publisher(broker, { source: '/conformance' }).publishBatch(
          ['a', 'refused', 'b', 'locked', 'c', 'd'].map((data) => ({ topic, data })),
        );
        await all.wait(timeoutMs, 'the batch and its retry');
      } finally {
        clearInterval(poke);
      }
      await consumer.stop();
      assert.deepEqual(handled.sort(), ['a#1', 'b#1', 'c#1', 'd#1', 'locked#2']);
      assert.equal(dead.got.length, 1);
      assert.equal(dead.got[0]!.headers[headerNames.deadLetterReason], 'handler-rejected');
      assert.equal(dead.got[0]!.headers[headerNames.error], 'row refused');
    });

    it('stop during a batch: its signal aborts, its messages are released, a new member gets exactly those', async () => {
      const broker = await connection();
      const topic = `conf.${fresh()}`;
      const group = `g-${fresh()}`;
      const n = 30;
      const acked = new Set<string>();
      let batches = 0;
      let aborted = 0;
      const stuck = new Waiter(() => batches >= 2);
      const first = await consumeBatch(broker, {
        group,
        topics: [topic],
        maxMessages: 10,
        maxWaitMs: 200,
        stopTimeoutMs: 200,
        handler: async (messages, ctx) => {
          batches++;
          stuck.poke();
          // The first batch is done; the second holds until stop() runs out of patience.
          if (batches === 1) {
            for (const msg of messages) acked.add(msg.id);
            return;
          }
          await new Promise<void>((_resolve, reject) =>
            ctx.signal.addEventListener('abort', () => {
              aborted++;
              reject(ctx.signal.reason);
            }),
          );
        },
      });
      const outcomes = await publisher(broker, { source: '/conformance' }).publishBatch(
        Array.from({ length: n }, (_, i) => ({ topic, data: i })),
      );
      await stuck.wait(timeoutMs, 'a batch in flight');
      await first.stop();
      assert.equal(aborted, 1, "the running batch's signal aborted");
      assert.equal(first.active, 0);
      const second = await recorder(broker, { group, topics: [topic], concurrency: 4 });
      const rest = new Waiter(() => acked.size + second.seen.size >= n);
      const poke = setInterval(() => rest.poke(), 5);
      try {
        await rest.wait(timeoutMs, 'the released messages');
      } finally {
        clearInterval(poke);
      }
      await second.consumer.stop();
      assert.deepEqual(new Set([...acked, ...second.seen]), new Set(outcomes.map((o) => o.id)));
      for (const id of acked)
        assert.ok(!second.seen.has(id), 'what the finished batch acked is not redelivered');
      for (const msg of second.ids) assert.ok(!acked.has(msg));
    });

    it('a batch member killed mid-batch: another batch member gets its messages, none lost', async () => {
      const [doomed, survivor] = [await connection(), await connection()];
      const topic = `conf.${fresh()}`;
      const group = `g-${fresh()}`;
      let taken = 0;
      const takenSome = new Waiter(() => taken > 0);
      await consumeBatch(doomed, {
        group,
        topics: [topic],
        maxMessages: 10,
        maxWaitMs: 50,
        handler: (messages) => {
          taken += messages.length;
          takenSome.poke();
          return new Promise<void>(() => {});
        },
      });
      const n = 100;
      const outcomes = await publisher(survivor, { source: '/conformance' }).publishBatch(
        Array.from({ length: n }, (_, i) => ({ topic, data: i })),
      );
      await takenSome.wait(timeoutMs, 'the doomed member to take a batch');
      await crash(doomed);
      const seen = new Set<string>();
      const all = new Waiter(() => seen.size >= n);
      const s = await consumeBatch(survivor, {
        group,
        topics: [topic],
        maxMessages: 25,
        maxWaitMs: 20,
        handler: async (messages) => {
          for (const msg of messages) seen.add(msg.id);
          all.poke();
        },
      });
      await all.wait(timeoutMs, 'redelivery after the crash');
      await s.stop();
      assert.deepEqual(seen, new Set(outcomes.map((o) => o.id)));
    });

    it('the publisher learns exactly which messages the broker refused', async () => {
      const broker = await connection();
      const topic = `conf.${fresh()}`;
      const r = await recorder(broker, { group: `g-${fresh()}`, topics: [topic] });
      const events = publisher(broker, { source: '/conformance' });
      const outcomes = await events.publishBatch([
        { topic, data: 'first' },
        { topic, data: 'x'.repeat(options.oversizeBytes) },
        { topic, data: 'third' },
      ]);
      assert.deepEqual(
        outcomes.map((o) => o.ok),
        [true, false, true],
      );
      const refused = outcomes[1]!;
      assert.ok(!refused.ok && isMeshError(refused.error), 'a MeshError');
      assert.equal(refused.error.code, 'ERR_BROKER_REJECTED');
      await r.waiter(2).wait(timeoutMs, 'the accepted messages');
      await r.consumer.stop();
      assert.deepEqual(r.seen, new Set([outcomes[0]!.id, outcomes[2]!.id]));
      const closed = await connection();
      await closed.close();
      await assert.rejects(
        publisher(closed, { source: '/conformance' }).publish(topic, 'late'),
        (e: unknown) => isMeshError(e),
      );
    });
  });
}
