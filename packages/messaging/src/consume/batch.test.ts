import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CallContext, exponentialBackoff } from '@meshkit/core';
import { consume, consumeBatch, type Message } from '../consumer.ts';
import { headerNames } from '../envelope.ts';
import { memoryBroker } from '../memory-broker.ts';
import { collect } from '../test-support/collect.ts';
import { fakeClockBroker } from '../test-support/fake-clock-broker.ts';
import { settle } from './settlement.ts';

const fast = { maxAttempts: 3, backoff: exponentialBackoff({ baseDelayMs: 10, random: () => 1 }) };

describe('consumeBatch', () => {
  it('hands over full batches at once and a partial one after maxWaitMs, one batch at a time, in order', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const batches: number[][] = [];
    let release: () => void = () => {};
    const consumer = await consumeBatch(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      maxMessages: 3,
      maxWaitMs: 50,
      handler: async (messages: readonly Message<number>[]) => {
        batches.push(messages.map((m) => m.data));
        if (batches.length === 1) await new Promise<void>((r) => (release = r));
      },
    });
    await events.publishBatch([1, 2, 3, 4, 5, 6, 7].map((data) => ({ topic: 't', data })));
    await clock.flush();
    assert.deepEqual(batches, [[1, 2, 3]], 'the first batch is full: no wait');
    assert.equal(consumer.active, 3);
    assert.equal(consumer.describe().queued, 4, 'the rest waits for the running batch');
    release();
    await clock.flush();
    assert.deepEqual(batches, [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    await clock.advance(49);
    assert.equal(batches.length, 2, 'a partial batch waits for more');
    await clock.advance(1);
    assert.deepEqual(batches[2], [7]);
    await events.publish('t', 8);
    await clock.advance(50);
    assert.deepEqual(batches[3], [8]);
    assert.deepEqual(
      [consumer.describe().handled, consumer.describe().batches, consumer.describe().maxMessages],
      [8, 4, 3],
    );
    await consumer.stop();
  });

  it('a rejected batch is a failed attempt for each of its messages, retried after the backoff', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const calls: string[][] = [];
    const consumer = await consumeBatch(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      retry: fast,
      maxWaitMs: 0,
      handler: async (messages: readonly Message<string>[]) => {
        calls.push(messages.map((m) => `${m.data}#${m.attempt}`));
        if (calls.length === 1) throw new Error('database away');
      },
    });
    await events.publishBatch(['a', 'b'].map((data) => ({ topic: 't', data })));
    await clock.advance(60_000);
    assert.deepEqual(calls, [
      ['a#1', 'b#1'],
      ['a#2', 'b#2'],
    ]);
    assert.deepEqual([consumer.describe().handled, consumer.describe().retried], [2, 2]);
    await consumer.stop();
  });

  it('a batch that keeps failing dead-letters every message in it after maxAttempts', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const dead = await collect(broker, 'dlq', ['dead-letter.g']);
    let calls = 0;
    const consumer = await consumeBatch(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      retry: fast,
      maxWaitMs: 0,
      handler: async () => {
        calls++;
        throw new Error('bulk insert failed');
      },
    });
    await events.publishBatch(['good', 'poison'].map((data) => ({ topic: 't', data })));
    await clock.advance(60_000);
    assert.equal(calls, 3, 'nothing loops');
    assert.equal(dead.deliveries.length, 2, 'the handler named no culprit: the whole batch failed');
    for (const d of dead.deliveries) {
      assert.equal(d.headers[headerNames.deadLetterReason], 'handler-failed');
      assert.equal(d.headers[headerNames.error], 'bulk insert failed');
      assert.equal(d.headers[headerNames.deadLetterAttempts], '3');
    }
    await consumer.stop();
  });

  it('settles messages one by one: the handler names the failed ones, the rest are acked', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const dead = await collect(broker, 'dlq', ['dead-letter.g']);
    const seen: string[] = [];
    const consumer = await consumeBatch(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      retry: fast,
      maxWaitMs: 0,
      handler: async (messages: readonly Message<string>[]) => {
        const failed = new Map();
        for (const m of messages) {
          seen.push(`${m.data}#${m.attempt}`);
          if (m.data === 'refused') failed.set(m, settle.deadLetter('row refused'));
          if (m.data === 'busy' && m.attempt === 1) failed.set(m, settle.retry('row locked', 100));
        }
        return failed;
      },
    });
    await events.publishBatch(['a', 'refused', 'busy', 'b'].map((data) => ({ topic: 't', data })));
    await clock.advance(99);
    assert.deepEqual(seen, ['a#1', 'refused#1', 'busy#1', 'b#1']);
    await clock.advance(1);
    assert.deepEqual(seen.slice(4), ['busy#2'], 'only the retried one comes back, after its delay');
    await clock.advance(60_000);
    assert.equal(dead.deliveries.length, 1);
    assert.equal(dead.deliveries[0]!.headers[headerNames.deadLetterReason], 'handler-rejected');
    assert.equal(dead.deliveries[0]!.headers[headerNames.error], 'row refused');
    assert.deepEqual(
      [consumer.describe().handled, consumer.describe().retried, consumer.describe().deadLettered],
      [3, 1, 1],
    );
    await consumer.stop();
  });

  it('a message that cannot be decoded never reaches the batch; the others do', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const dead = await collect(broker, 'dlq', ['dead-letter.g']);
    const batches: unknown[][] = [];
    const consumer = await consumeBatch(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      maxWaitMs: 0,
      handler: async (messages) => {
        batches.push(messages.map((m) => m.data));
      },
    });
    await events.publish('t', 'before');
    const headers = {
      [headerNames.id]: 'bad',
      [headerNames.source]: '/test',
      [headerNames.type]: 't',
      [headerNames.specVersion]: '1.0',
    };
    await broker.publish([{ topic: 't', headers, body: new TextEncoder().encode('{nope') }]);
    await events.publish('t', 'after');
    await clock.advance(1_000);
    assert.deepEqual(batches.flat(), ['before', 'after']);
    assert.equal(dead.deliveries[0]!.headers[headerNames.deadLetterReason], 'undecodable');
    await consumer.stop();
  });

  it('stops: what waits for a batch is released, the running batch gets stopTimeoutMs, then its signal aborts', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const seen: string[] = [];
    let aborted = 0;
    const consumer = await consumeBatch(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      maxMessages: 2,
      maxWaitMs: 0,
      stopTimeoutMs: 1_000,
      handler: (messages: readonly Message<string>[], ctx: CallContext) =>
        new Promise<void>((_resolve, reject) => {
          seen.push(...messages.map((m) => m.data));
          ctx.signal.addEventListener('abort', () => {
            aborted++;
            reject(ctx.signal.reason);
          });
        }),
    });
    await events.publishBatch(['one', 'two', 'three'].map((data) => ({ topic: 't', data })));
    await clock.flush();
    assert.deepEqual(seen, ['one', 'two']);
    const stopping = consumer.stop();
    await clock.advance(999);
    assert.equal(aborted, 0, 'the batch has until stopTimeoutMs');
    await clock.advance(1);
    await stopping;
    assert.equal(aborted, 1);
    assert.equal(consumer.active, 0);
    // Nothing was acked: the next member gets all three, as first attempts.
    const later: string[] = [];
    const next = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      handler: async (msg: Message<string>) => {
        later.push(`${msg.data}#${msg.attempt}`);
      },
    });
    await clock.flush();
    assert.deepEqual(later.sort(), ['one#1', 'three#1', 'two#1']);
    await next.stop();
  });

  it('a batch that finishes within stopTimeoutMs is acked', async () => {
    const { clock, broker, events } = fakeClockBroker();
    const consumer = await consumeBatch(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      maxWaitMs: 0,
      handler: () => new Promise<void>((resolve) => clock.setTimeout(resolve, 500)),
    });
    await events.publishBatch(['one', 'two'].map((data) => ({ topic: 't', data })));
    await clock.advance(0);
    assert.equal(consumer.active, 2);
    const stopping = consumer.stop();
    await clock.advance(500);
    await stopping;
    assert.equal(consumer.describe().handled, 2);
    const later: unknown[] = [];
    const next = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      handler: async (msg) => void later.push(msg.data),
    });
    await clock.advance(5_000);
    assert.deepEqual(later, []);
    await next.stop();
  });

  it('validates its options, naming the field', async () => {
    const broker = memoryBroker();
    const handler = async () => {};
    await assert.rejects(
      consumeBatch(broker, { group: 'g', topics: ['t'], handler, maxMessages: 0 }),
      /consumeBatch.maxMessages/,
    );
    await assert.rejects(
      consumeBatch(broker, { group: 'g', topics: ['t'], handler, maxWaitMs: -1 }),
      /consumeBatch.maxWaitMs/,
    );
    await assert.rejects(
      consumeBatch(broker, { group: 'g', topics: ['t'], handler, maxMessages: 50, prefetch: 10 }),
      /consumeBatch.prefetch must be at least maxMessages \(50\)/,
    );
    await assert.rejects(
      consumeBatch(broker, { group: 'g', topics: ['t'], handler: 'no' as never }),
      /consumeBatch.handler must be a function/,
    );
    await assert.rejects(consumeBatch(broker, { group: 'g', handler }), /consumeBatch.topics/);
  });
});
