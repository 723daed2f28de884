import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContext, FakeClock, isMeshError } from '@meshkit/core';
import type { Broker, BrokerRecord, PublishResult } from './broker.ts';
import { headerNames } from './envelope.ts';
import { memoryBroker } from './memory-broker.ts';
import { publisher } from './publisher.ts';
import { collect, nameSchema } from './test-support/collect.ts';

/** Wraps a broker so the test controls when confirms arrive. */
function gatedBroker(inner: Broker) {
  const batches: { records: readonly BrokerRecord[]; open: () => void }[] = [];
  const broker: Broker = {
    name: 'gated',
    publish(records) {
      return new Promise<PublishResult[]>((resolve) => {
        batches.push({ records, open: () => void inner.publish(records).then(resolve) });
      });
    },
    subscribe: (o) => inner.subscribe(o),
    close: () => inner.close(),
  };
  return { broker, batches };
}

describe('publisher', () => {
  it('writes the CloudEvents binary-mode headers, traceparent and deadline', async () => {
    const clock = new FakeClock();
    const broker = memoryBroker({ clock });
    const seen = await collect(broker, 'g', ['user.*']);
    const events = publisher(broker, { source: '/users', clock });
    const ctx = createContext({ clock, timeoutMs: 5_000, metadata: { traceparent: '00-abc-def-01' } });
    const receipt = await events.publish(
      'user.created',
      { id: 1 },
      { key: 'k1', subject: '1', id: 'e-1' },
      ctx,
    );
    assert.equal(receipt.id, 'e-1');
    await clock.flush();
    const h = seen.deliveries[0]!.headers;
    assert.equal(h['ce-specversion'], '1.0');
    assert.equal(h['ce-id'], 'e-1');
    assert.equal(h['ce-source'], '/users');
    assert.equal(h['ce-type'], 'user.created');
    assert.equal(h['ce-subject'], '1');
    assert.equal(h['ce-time'], new Date(clock.now()).toISOString());
    assert.equal(h['content-type'], 'application/json');
    assert.equal(h.traceparent, '00-abc-def-01');
    assert.equal(h[headerNames.deadline], String(clock.now() + 5_000));
    assert.equal(seen.deliveries[0]!.key, 'k1');
    assert.deepEqual(JSON.parse(new TextDecoder().decode(seen.deliveries[0]!.body)), { id: 1 });
  });

  it('resolves only after the confirm and keeps at most windowSize unconfirmed', async () => {
    const { broker, batches } = gatedBroker(memoryBroker());
    const events = publisher(broker, { source: '/s', windowSize: 3, maxBatch: 2 });
    let confirmed = 0;
    const all = Array.from({ length: 5 }, (_, i) => events.publish('t', i).then(() => confirmed++));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      batches.map((b) => b.records.length),
      [2, 1],
    );
    assert.equal(confirmed, 0);
    assert.equal(events.pending, 5);
    batches[0]!.open();
    await new Promise((r) => setImmediate(r));
    assert.equal(confirmed, 2);
    assert.deepEqual(
      batches.map((b) => b.records.length),
      [2, 1, 2],
    );
    batches[1]!.open();
    batches[2]!.open();
    await Promise.all(all);
    await events.flush();
    assert.equal(events.pending, 0);
  });

  it('reports exactly which events of a batch the broker refused', async () => {
    const broker = memoryBroker({ maxMessageBytes: 50 });
    const events = publisher(broker, { source: '/s' });
    const outcomes = await events.publishBatch([
      { topic: 'a', data: 'small', id: 'ok-1' },
      { topic: 'a', data: 'x'.repeat(100), id: 'big' },
      { topic: 'a', data: 'small', id: 'ok-2' },
    ]);
    assert.deepEqual(
      outcomes.map((o) => [o.id, o.ok]),
      [
        ['ok-1', true],
        ['big', false],
        ['ok-2', true],
      ],
    );
    const failed = outcomes[1]!;
    assert.ok(!failed.ok && isMeshError(failed.error) && failed.error.code === 'ERR_BROKER_REJECTED');
    await assert.rejects(events.publish('a', 'y'.repeat(100)), { code: 'ERR_BROKER_REJECTED' });
  });

  it('rejects every event when the broker connection is closed or the batch is lost', async () => {
    const broker = memoryBroker();
    await broker.close();
    await assert.rejects(publisher(broker, { source: '/s' }).publish('a', 1), { code: 'ERR_CLOSED' });
    const lost: Broker = {
      name: 'lost',
      publish: () => Promise.reject(new Error('connection lost')),
      subscribe: () => Promise.reject(new Error('no')),
      close: async () => {},
    };
    const outcomes = await publisher(lost, { source: '/s' }).publishBatch([
      { topic: 'a', data: 1 },
      { topic: 'a', data: 2 },
    ]);
    assert.deepEqual(
      outcomes.map((o) => !o.ok && o.error.message),
      ['connection lost', 'connection lost'],
    );
  });

  it('refuses data failing the schema or the codec before sending anything', async () => {
    const { broker, batches } = gatedBroker(memoryBroker());
    const events = publisher(broker, { source: '/s', schema: nameSchema });
    await assert.rejects(events.publish('a', { name: 3 } as never), {
      code: 'ERR_INVALID_PAYLOAD',
      message: /name: expected a string/,
    });
    await assert.rejects(publisher(broker, { source: '/s' }).publish('a', undefined), {
      code: 'ERR_INVALID_PAYLOAD',
    });
    await assert.rejects(events.publish('a.*', { name: 'x' }), /must not contain the wildcards/);
    assert.equal(batches.length, 0);
  });

  it('never throws: a refused event is a rejected promise; the data is encoded as it was at the call', async () => {
    const broker = memoryBroker();
    const seen = await collect(broker, 'g', ['a']);
    const events = publisher(broker, { source: '/s', windowSize: 1 });
    const data = { n: 1 };
    let refused: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      refused = events.publish('not a topic', data);
    });
    await assert.rejects(refused!, { code: 'ERR_INVALID_ARGUMENT' });
    const [first, second] = [events.publish('a', data), events.publish('a', data)];
    data.n = 2; // the second event waits for the window: it keeps what it was given
    await Promise.all([first, second]);
    while (seen.deliveries.length < 2) await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      seen.deliveries.map((d) => JSON.parse(new TextDecoder().decode(d.body))),
      [{ n: 1 }, { n: 1 }],
    );
    const outcomes = await events.publishBatch([
      { topic: 'a.#', data: 1 },
      { topic: 'a', data: 3 },
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.ok),
      [false, true],
    );
  });

  it('does not send an event whose caller cancelled while it waited for the window', async () => {
    const { broker, batches } = gatedBroker(memoryBroker());
    const events = publisher(broker, { source: '/s', windowSize: 1 });
    const first = events.publish('a', 1);
    const { ctx, cancel } = createContext().withCancel();
    const second = events.publish('a', 2, {}, ctx);
    await new Promise((r) => setImmediate(r));
    cancel(new Error('gave up'));
    batches[0]!.open();
    await first;
    await assert.rejects(second, { name: 'AbortError' });
    assert.equal(batches.length, 1);
  });

  it('refuses an event whose deadline already passed', async () => {
    const clock = new FakeClock();
    const { broker, batches } = gatedBroker(memoryBroker());
    const events = publisher(broker, { source: '/s', clock });
    const ctx = createContext({ clock, timeoutMs: 10 });
    await clock.advance(10);
    await assert.rejects(events.publish('a', 1, {}, ctx), { code: 'ERR_DEADLINE_EXCEEDED' });
    assert.equal(batches.length, 0);
  });

  it('validates its options, naming the field', () => {
    const broker = memoryBroker();
    assert.throws(() => publisher(broker, { source: '' }), /publisher.source must be a non-empty string/);
    assert.throws(
      () => publisher(broker, { source: '/s', windowSize: 0 }),
      /publisher.windowSize must be an integer >= 1/,
    );
    assert.throws(() => publisher(broker, { source: '/s', maxBatch: 1.5 }), /publisher.maxBatch/);
  });
});
