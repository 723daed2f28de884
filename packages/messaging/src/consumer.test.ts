import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CallContext, createContext, exponentialBackoff, FakeClock } from '@meshkit/core';
import { consume, type Message } from './consumer.ts';
import { headerNames } from './envelope.ts';
import { memoryBroker } from './memory-broker.ts';
import { publisher } from './publisher.ts';
import { collect, nameSchema } from './test-support/collect.ts';
import { fakeClockBroker } from './test-support/fake-clock-broker.ts';

describe('consume', () => {
  it('a dead-letter consumer gets its own full attempts, not what is left of the failed ones', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const retry = { maxAttempts: 3, backoff: exponentialBackoff({ baseDelayMs: 10, random: () => 1 }) };
    const first = await consume(broker, {
      group: 'g',
      clock,
      topics: ['orders'],
      retry,
      handler: async () => {
        throw new Error('cannot handle');
      },
    });
    const dlqAttempts: number[] = [];
    const dlq = await consume(broker, {
      group: 'dlq',
      clock,
      topics: ['dead-letter.g'],
      retry,
      handler: async (msg) => {
        dlqAttempts.push(msg.attempt);
        throw new Error('still cannot');
      },
    });
    await events.publish('orders', { n: 1 }, { id: 'poison' });
    await clock.advance(1_000);
    assert.deepEqual(dlqAttempts, [1, 2, 3]);
    await first.stop();
    await dlq.stop();
  });

  it('hands decoded events to the handler and acks only after it succeeded', async () => {
    const { clock, broker, events } = fakeClockBroker();
    let release!: () => void;
    const got: Message[] = [];
    const contexts: CallContext[] = [];
    const consumer = await consume(broker, {
      group: 'g',
      clock,
      topics: ['user.created'],
      handler: async (msg, ctx) => {
        got.push(msg);
        contexts.push(ctx);
        await new Promise<void>((r) => {
          release = r;
        });
      },
    });
    const traced = createContext({ clock, metadata: { traceparent: '00-trace-span-01', tracestate: 'k=v' } });
    await events.publish('user.created', { name: 'ada' }, { key: 'u1', id: 'e1' }, traced);
    await clock.flush();
    assert.equal(got.length, 1);
    assert.equal(got[0]!.id, 'e1');
    assert.deepEqual(got[0]!.data, { name: 'ada' });
    assert.equal(got[0]!.attempt, 1);
    assert.equal(got[0]!.key, 'u1');
    assert.equal(
      contexts[0]!.metadata.traceparent,
      '00-trace-span-01',
      'trace context carried to the handler',
    );
    assert.equal(contexts[0]!.metadata.tracestate, 'k=v');
    // Not acked yet: a crash now would redeliver. Stop with a tiny bound releases it instead.
    assert.equal(consumer.active, 1);
    release();
    await clock.flush();
    assert.equal(consumer.active, 0);
    assert.equal(consumer.describe().handled, 1);
    await consumer.stop();
  });

  it('retries with growing delays on the clock, then dead-letters with the error and attempt count', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const dead = await collect(broker, 'dlq-reader', ['dead-letter.g']);
    const attempts: number[] = [];
    const at: number[] = [];
    const consumer = await consume(broker, {
      group: 'g',
      clock,
      topics: ['orders'],
      retry: {
        maxAttempts: 3,
        backoff: exponentialBackoff({ baseDelayMs: 100, jitter: 'equal', random: () => 1 }),
      },
      handler: async (msg, ctx) => {
        attempts.push(msg.attempt);
        at.push(ctx.clock.now());
        assert.equal(ctx.attempt, msg.attempt);
        throw new Error(`boom ${msg.attempt}`);
      },
    });
    await events.publish('orders', { n: 1 }, { id: 'poison', headers: { 'x-custom': 'kept' } });
    await clock.flush();
    assert.deepEqual(attempts, [1]);
    await clock.advance(99);
    assert.deepEqual(attempts, [1]);
    await clock.advance(1);
    assert.deepEqual(attempts, [1, 2]);
    await clock.advance(200);
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.deepEqual(
      at.map((t) => t - at[0]!),
      [0, 100, 300],
    );
    await clock.advance(10_000);
    assert.deepEqual(attempts, [1, 2, 3], 'nothing loops');
    assert.equal(dead.deliveries.length, 1);
    const h = dead.deliveries[0]!.headers;
    assert.equal(h[headerNames.deadLetterReason], 'handler-failed');
    assert.equal(h[headerNames.error], 'boom 3');
    assert.equal(h[headerNames.errorCode], 'Error');
    assert.equal(h[headerNames.deadLetterAttempts], '3');
    assert.equal(h[headerNames.attempt], '1', 'a dead-letter consumer starts at attempt 1');
    assert.equal(h[headerNames.originalTopic], 'orders');
    assert.equal(h['ce-id'], 'poison');
    assert.equal(h['x-custom'], 'kept');
    assert.deepEqual(consumer.describe().deadLettered, 1);
    await consumer.stop();
  });

  it('a retry that succeeds acks and never dead-letters', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const dead = await collect(broker, 'dlq-reader', ['dead-letter.#']);
    let calls = 0;
    const consumer = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      retry: { backoff: exponentialBackoff({ baseDelayMs: 10, jitter: 'equal' }) },
      handler: async () => {
        if (++calls === 1) throw new Error('transient');
      },
    });
    await events.publish('t', 1);
    await clock.advance(1_000);
    assert.equal(calls, 2);
    assert.equal(dead.deliveries.length, 0);
    assert.equal(consumer.describe().handled, 1);
    await consumer.stop();
  });

  it('dead-letters undecodable bodies, non-CloudEvents and schema failures at once', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const dead = await collect(broker, 'dlq-reader', ['dead-letter.g']);
    let calls = 0;
    const consumer = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      schema: nameSchema,
      handler: async () => {
        calls++;
      },
    });
    const good = await events.publish('t', { name: 'ok' });
    // This publisher has no schema, so the bad event reaches the consumer, whose schema refuses it.
    await events.publish('t', { name: 7 } as never);
    // Bypass the publisher to put bad bytes and missing attributes on the wire.
    await broker.publish([
      {
        topic: 't',
        headers: { 'ce-id': 'x', 'ce-source': '/s', 'ce-type': 't', 'ce-specversion': '1.0' },
        body: new Uint8Array([0xff, 0xfe]),
      },
      { topic: 't', headers: {}, body: new TextEncoder().encode('{}') },
      {
        topic: 't',
        headers: { 'ce-id': 'y', 'ce-source': '/s', 'ce-type': 't', 'ce-specversion': '1.0' },
        body: new TextEncoder().encode('{"name":3}'),
      },
    ]);
    await clock.flush();
    assert.equal(calls, 1);
    assert.ok(good.id);
    assert.deepEqual(
      dead.deliveries.map((d) => d.headers[headerNames.deadLetterReason]),
      ['invalid-payload', 'undecodable', 'undecodable', 'invalid-payload'],
    );
    assert.match(dead.deliveries[2]!.headers[headerNames.error]!, /missing ce-id/);
    assert.match(dead.deliveries[3]!.headers[headerNames.error]!, /name: expected a string/);
    await consumer.stop();
  });

  it('skips the handler and dead-letters when the deadline header has passed; passes it on otherwise', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const dead = await collect(broker, 'dlq-reader', ['dead-letter.g']);
    const deadlines: (number | undefined)[] = [];
    const consumer = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      concurrency: 2,
      handler: async (_msg, ctx) => {
        deadlines.push(ctx.deadline);
      },
    });
    await consumer.stop();
    // Publish while no consumer runs, let one deadline pass, then start again.
    await events.publish('t', 'late', {}, createContext({ clock, timeoutMs: 100 }));
    await events.publish('t', 'fine', {}, createContext({ clock, timeoutMs: 10_000 }));
    await clock.advance(500);
    const again = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      handler: async (_msg, ctx) => {
        deadlines.push(ctx.deadline);
      },
    });
    await clock.flush();
    assert.deepEqual(deadlines, [clock.now() - 500 + 10_000]);
    assert.equal(dead.deliveries.length, 1);
    assert.equal(dead.deliveries[0]!.headers[headerNames.deadLetterReason], 'deadline-exceeded');
    assert.equal(dead.deliveries[0]!.headers[headerNames.errorCode], 'ERR_DEADLINE_EXCEEDED');
    await again.stop();
  });

  it('serialises messages with the same key while running different keys concurrently', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const running = new Map<string, number>();
    const order: string[] = [];
    let peak = 0;
    const consumer = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      concurrency: 4,
      handler: async (msg: Message<number>) => {
        const key = msg.key!;
        assert.equal(running.get(key) ?? 0, 0, `key ${key} overlapped`);
        running.set(key, 1);
        peak = Math.max(
          peak,
          [...running.values()].reduce((a, b) => a + b, 0),
        );
        order.push(`${key}:${msg.data}`);
        await new Promise((r) => clock.setTimeout(() => r(undefined), 10 + (msg.data % 3)));
        running.set(key, 0);
      },
    });
    const published = [];
    for (let i = 0; i < 60; i++) published.push(events.publish('t', i, { key: `k${i % 5}` }));
    await Promise.all(published);
    await clock.advance(2_000);
    assert.equal(order.length, 60);
    assert.equal(peak, 4);
    for (let k = 0; k < 5; k++) {
      const seq = order.filter((o) => o.startsWith(`k${k}:`)).map((o) => Number(o.split(':')[1]));
      assert.deepEqual(
        seq,
        [...seq].sort((a, b) => a - b),
      );
    }
    await consumer.stop();
  });

  it('stops gracefully: releases what did not start, waits for running handlers, aborts after the bound', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const seen: string[] = [];
    let aborted = 0;
    const consumer = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      concurrency: 2,
      stopTimeoutMs: 1_000,
      handler: (msg: Message<string>, ctx: CallContext) =>
        new Promise<void>((resolve, reject) => {
          seen.push(msg.data);
          if (msg.data === 'quick') {
            clock.setTimeout(resolve, 500);
            return;
          }
          ctx.signal.addEventListener('abort', () => {
            aborted++;
            reject(ctx.signal.reason);
          });
        }),
    });
    await events.publish('t', 'quick');
    await events.publish('t', 'stuck');
    await events.publish('t', 'waiting');
    await clock.flush();
    assert.deepEqual(seen, ['quick', 'stuck']);
    const stopping = consumer.stop();
    await clock.advance(999);
    assert.equal(aborted, 0);
    await clock.advance(1);
    await stopping;
    assert.equal(aborted, 1);
    // 'quick' was acked; 'stuck' and 'waiting' were released, so the next member gets both.
    const later: string[] = [];
    const next = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      handler: async (msg: Message<string>) => {
        later.push(msg.data);
      },
    });
    await clock.flush();
    assert.deepEqual(later.sort(), ['stuck', 'waiting']);
    await next.stop();
    assert.equal(await consumer.stop(), undefined, 'stop is idempotent');
  });

  it('redelivers to another member after a member died, and dead-letters a message that keeps killing members', async () => {
    const clock = new FakeClock();
    const store = memoryBroker({ clock, visibilityTimeoutMs: 1_000 });
    const dead = await collect(store, 'dlq-reader', ['dead-letter.g']);
    const events = publisher(store, { source: '/test', clock });
    const victims = [];
    for (let i = 0; i < 3; i++) {
      const conn = store.connect();
      victims.push(conn);
      await consume(conn, {
        group: 'g',
        clock,
        topics: ['t'],
        maxDeliveries: 2,
        handler: () => new Promise(() => {}),
      });
      if (i === 0) await events.publish('t', 'killer', { id: 'k' });
      await clock.flush();
      conn.abandon();
      await clock.advance(1_000);
    }
    assert.equal(dead.deliveries.length, 1);
    assert.equal(dead.deliveries[0]!.headers[headerNames.deadLetterReason], 'delivery-limit');
    assert.equal(dead.deliveries[0]!.headers['ce-id'], 'k');
  });

  it('validates its options, naming the field', async () => {
    const broker = memoryBroker();
    const handler = async () => {};
    await assert.rejects(consume(broker, { group: 'g', handler }), /consume.topics or consume.patterns/);
    await assert.rejects(consume(broker, { group: '', topics: ['t'], handler }), /consume.group/);
    await assert.rejects(
      consume(broker, { group: 'g', topics: ['t'], handler, concurrency: 0 }),
      /consume.concurrency must be an integer >= 1/,
    );
    await assert.rejects(
      consume(broker, { group: 'g', topics: ['t'], handler, retry: { maxAttempts: 0 } }),
      /consume.retry.maxAttempts must be an integer >= 1/,
    );
    await assert.rejects(
      consume(broker, { group: 'g', topics: ['t'], handler, retry: { backoff: { delay: 5 } as never } }),
      /consume.retry.backoff must be a Backoff/,
    );
    await assert.rejects(consume(broker, { group: 'g', topics: ['a..b'], handler }), /consume.topics\[0\]/);
  });
});
