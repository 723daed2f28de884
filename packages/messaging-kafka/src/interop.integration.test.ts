import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { consume, type Message, publisher } from '@meshkit/messaging';
import { type KafkaBroker, kafkaBroker } from './kafka-broker.ts';
import { bootstrap, parsePosition, stockConsume, stockProduce } from './test-support/stock-client.ts';

// The seed's wire contract on a real broker, checked against Apache Kafka's own Java console producer
// and consumer (no meshkit code on the other side). Kafka must be running (scripts/services/up-kafka.sh).
const topic = 'user-events';
const brokers: KafkaBroker[] = [];
const connect = (): KafkaBroker => {
  const b = kafkaBroker({ brokers: [bootstrap] });
  brokers.push(b);
  return b;
};
after(async () => {
  for (const b of brokers) await b.close();
});

/** Consumes `user-events` in a fresh group until `n` messages arrived. */
async function collect(
  broker: KafkaBroker,
  n: number,
): Promise<{ got: Message[]; done: Promise<void>; stop(): Promise<void> }> {
  const got: Message[] = [];
  let resolve!: () => void;
  const done = new Promise<void>((r) => {
    resolve = r;
  });
  const consumer = await consume(broker, {
    group: `interop-${randomUUID().slice(0, 8)}`,
    topics: [topic],
    handler: async (msg) => {
      got.push(msg);
      if (got.length >= n) resolve();
    },
  });
  return { got, done, stop: () => consumer.stop() };
}

describe('kafka wire contract (user-events) with the stock Java client', () => {
  it('a plain JSON record from the stock producer reaches a meshkit handler, key = user id', async () => {
    const broker = connect();
    const c = await collect(broker, 2);
    const user = `user-${randomUUID().slice(0, 6)}`;
    await stockProduce(topic, [
      `${user}|{"type":"USER_CREATED","user_id":"${user}","email":"a@example.com","timestamp":1699999999}`,
      `${user}|{"type":"USER_UPDATED","user_id":"${user}","email":"b@example.com","timestamp":1700000000}`,
    ]);
    await c.done;
    await c.stop();
    assert.deepEqual(
      c.got.map((m) => [m.key, (m.data as { type: string }).type, (m.data as { user_id: string }).user_id]),
      [
        [user, 'USER_CREATED', user],
        [user, 'USER_UPDATED', user],
      ],
    );
    // Attributes derived from the record: a redelivery carries the same id, so the inbox absorbs it.
    assert.match(c.got[0]!.id, /^user-events-\d+-\d+$/);
    assert.equal(c.got[0]!.type, topic);
  });

  it('CloudEvents headers set by the stock producer (ce_*) become the message attributes', async () => {
    const broker = connect();
    const c = await collect(broker, 1);
    const id = randomUUID();
    await stockProduce(
      topic,
      [
        `ce_id:${id},ce_source:/python-service,ce_type:user.created,ce_specversion:1.0|user-7|{"user_id":"user-7"}`,
      ],
      true,
    );
    await c.done;
    await c.stop();
    const msg = c.got[0]!;
    assert.equal(msg.id, id);
    assert.equal(msg.source, '/python-service');
    assert.equal(msg.type, 'user.created');
    assert.deepEqual(msg.data, { user_id: 'user-7' });
  });

  it('a meshkit publish reads back with the stock consumer: key, plain JSON value, ce_* headers', async () => {
    const broker = connect();
    const events = publisher(broker, { source: '/users' });
    const user = `user-${randomUUID().slice(0, 6)}`;
    const receipt = await events.publish(topic, { type: 'USER_CREATED', user_id: user }, { key: user });
    const { partition, offset } = parsePosition(receipt.position);
    assert.ok(Number.isInteger(partition) && Number.isInteger(offset), `position ${receipt.position}`);
    const [record] = await stockConsume(topic, partition, offset, 1);
    assert.ok(record !== undefined);
    assert.equal(record.key, user);
    assert.deepEqual(JSON.parse(record.value), { type: 'USER_CREATED', user_id: user });
    assert.equal(record.headers.ce_id, receipt.id);
    assert.equal(record.headers.ce_source, '/users');
    assert.equal(record.headers.ce_type, topic);
    assert.equal(record.headers.ce_specversion, '1.0');
  });

  it('the same key lands in the same partition whoever produced it (murmur2, as the Java client)', async () => {
    const broker = connect();
    const events = publisher(broker, { source: '/users' });
    const keys = Array.from({ length: 6 }, (_, i) => `user-${i}-${randomUUID().slice(0, 4)}`);
    const ours = await events.publishBatch(keys.map((key) => ({ topic, key, data: { key } })));
    const c = await collect(broker, keys.length);
    await stockProduce(
      topic,
      keys.map((key) => `${key}|{"key":"${key}"}`),
    );
    await c.done;
    await c.stop();
    for (const [i, key] of keys.entries()) {
      const theirs = c.got.find((m) => m.key === key);
      assert.ok(theirs !== undefined, key);
      const partitionOfTheirs = Number(/^user-events-(\d+)-\d+$/.exec(theirs.id)?.[1]);
      const outcome = ours[i]!;
      assert.ok(outcome.ok);
      assert.equal(parsePosition(outcome.receipt.position).partition, partitionOfTheirs, key);
    }
  });
});
