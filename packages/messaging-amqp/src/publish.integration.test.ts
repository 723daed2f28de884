import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isMeshError } from '@meshkit/core';
import { type BrokerRecord, headerNames } from '@meshkit/messaging';
import amqp from 'amqplib';
import { type AmqpBroker, type AmqpBrokerOptions, amqpBroker } from './amqp-broker.ts';
import { type AmqpChannelErrorEvent, amqpChannels } from './channels.ts';
import { eventually } from './test-support/eventually.ts';
import { type OutageProxy, outageProxy } from './test-support/outage-proxy.ts';
import { type TestVhost, testVhost } from './test-support/rabbit.ts';

// Publishing against the real broker: confirms, nacks, returns, a channel the broker closes, outages.
let vhost: TestVhost;
let proxy: OutageProxy;
let stock: amqp.ChannelModel;
const brokers: AmqpBroker[] = [];
const connect = async (options: AmqpBrokerOptions = {}) => {
  const b = await amqpBroker({ url: vhost.url, ...options });
  brokers.push(b);
  return b;
};
before(async () => {
  vhost = await testVhost('publish');
  proxy = await outageProxy();
  stock = await amqp.connect(vhost.url);
});
after(async () => {
  for (const b of brokers) await b.close();
  await stock.close();
  await proxy.close();
  await vhost.remove();
});

const record = (topic: string, text = 'x', headers: Record<string, string> = {}): BrokerRecord => ({
  topic,
  headers: { [headerNames.id]: randomUUID(), ...headers },
  body: new TextEncoder().encode(JSON.stringify(text)),
});

/** A plain durable queue bound to `topic` on `events`, declared with the stock client. */
async function boundQueue(topic: string, args: Record<string, unknown> = {}): Promise<string> {
  const ch = await stock.createChannel();
  const queue = `q-${randomUUID().slice(0, 8)}`;
  await ch.assertExchange('events', 'topic', { durable: true });
  await ch.assertQueue(queue, { durable: true, arguments: args });
  await ch.bindQueue(queue, 'events', topic);
  await ch.close();
  return queue;
}

async function readyCount(queue: string): Promise<number> {
  const ch = await stock.createChannel();
  const { messageCount } = await ch.checkQueue(queue);
  await ch.close();
  return messageCount;
}

describe('publishing to RabbitMQ', () => {
  it('keeps at most maxUnconfirmed messages awaiting confirms; every one is confirmed', async () => {
    const broker = await connect({ maxUnconfirmed: 5 });
    const topic = `win.${randomUUID().slice(0, 8)}`;
    const queue = await boundQueue(topic);
    const results = broker.publish(Array.from({ length: 200 }, (_, i) => record(topic, String(i))));
    let most = 0;
    const watch = setInterval(() => {
      most = Math.max(most, broker.describe().unconfirmed as number);
    }, 0);
    assert.equal(broker.describe().unconfirmed, 5);
    assert.equal(broker.describe().pending, 200);
    const outcomes = await results;
    clearInterval(watch);
    assert.ok(outcomes.every((o) => o.ok));
    assert.ok(most <= 5, `at most 5 unconfirmed (saw ${most})`);
    assert.equal(broker.describe().pending, 0);
    assert.equal(await readyCount(queue), 200);
  });

  it('a message the broker nacks is refused (queue full with reject-publish)', async () => {
    const broker = await connect();
    const topic = `nack.${randomUUID().slice(0, 8)}`;
    await boundQueue(topic, { 'x-max-length': 2, 'x-overflow': 'reject-publish' });
    const outcomes = await broker.publish([record(topic, 'a'), record(topic, 'b'), record(topic, 'c')]);
    assert.deepEqual(
      outcomes.map((o) => o.ok),
      [true, true, false],
    );
    const refused = outcomes[2]!;
    assert.ok(!refused.ok && isMeshError(refused.error));
    assert.equal(refused.error.code, 'ERR_BROKER_REJECTED');
    assert.match(refused.error.message, /nacked/);
  });

  it('an unroutable message comes back (mandatory) and only its publish is refused', async () => {
    const broker = await connect();
    const topic = `routed.${randomUUID().slice(0, 8)}`;
    const queue = await boundQueue(topic);
    const outcomes = await broker.publish([record(topic), record('nobody.listens'), record(topic)]);
    assert.deepEqual(
      outcomes.map((o) => o.ok),
      [true, false, true],
    );
    const refused = outcomes[1]!;
    assert.ok(!refused.ok && isMeshError(refused.error));
    assert.equal(refused.error.code, 'ERR_BROKER_REJECTED');
    assert.match(refused.error.message, /unroutable.*nobody\.listens/);
    assert.equal(await readyCount(queue), 2);
    // Without the mandatory flag the broker drops it and confirms, as a stock publish would.
    const lenient = await connect({ mandatory: false });
    assert.deepEqual(
      (await lenient.publish([record('nobody.listens')])).map((o) => o.ok),
      [true],
    );
  });

  it('a channel the broker closes refuses what it held with the reason, and publishing recovers', async () => {
    const exchange = `ex-${randomUUID().slice(0, 8)}`;
    const broker = await connect({ exchange });
    const ch = await stock.createChannel();
    await ch.deleteExchange(exchange);
    const reported: AmqpChannelErrorEvent[] = [];
    const listen = (e: AmqpChannelErrorEvent) => reported.push(e);
    amqpChannels.channelError.subscribe(listen);
    const [lost] = await broker.publish([record('gone.topic')]);
    amqpChannels.channelError.unsubscribe(listen);
    assert.deepEqual(
      reported.map((e) => e.role),
      ['publish'],
      'reported on the diagnostics channel, not thrown',
    );
    assert.ok(lost !== undefined && !lost.ok && isMeshError(lost.error));
    assert.equal(lost.error.code, 'ERR_BROKER_REJECTED');
    assert.match(lost.error.message, /closed by the broker.*NOT_FOUND/);
    // The adapter opened a new channel and declared the exchange again.
    await eventually(() => broker.describe().connected === true, 'a new publish channel');
    const queue = `q-${randomUUID().slice(0, 8)}`;
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, 'back.#');
    await ch.close();
    const [ok] = await broker.publish([record('back.again')]);
    assert.ok(ok?.ok);
  });

  it('during an outage a publish waits for the connection and is confirmed once it is back', async () => {
    const broker = await connect({ url: proxy.via(vhost.url), reconnectMaxDelayMs: 200 });
    const topic = `outage.${randomUUID().slice(0, 8)}`;
    const queue = await boundQueue(topic);
    proxy.cut();
    await eventually(() => broker.describe().connected === false, 'the cut to be noticed');
    const pending = broker.publish([record(topic, 'during'), record(topic, 'the outage')]);
    await new Promise<void>((resolve) => setTimeout(resolve, 300));
    assert.equal(broker.describe().pending, 2, 'held, not dropped');
    proxy.restore();
    const outcomes = await pending;
    assert.deepEqual(
      outcomes.map((o) => o.ok),
      [true, true],
    );
    assert.equal(await readyCount(queue), 2);
  });

  it('a publish that outlasts outageWaitMs (or its deadline) fails with a retryable error, never vanishes', async () => {
    const broker = await connect({ url: proxy.via(vhost.url), outageWaitMs: 300, reconnectMaxDelayMs: 200 });
    const topic = `lost.${randomUUID().slice(0, 8)}`;
    await boundQueue(topic);
    proxy.cut();
    await eventually(() => broker.describe().connected === false, 'the cut to be noticed');
    const soon = String(Date.now() + 50);
    const outcomes = await broker.publish([
      record(topic),
      record(topic, 'x', { [headerNames.deadline]: soon }),
    ]);
    proxy.restore();
    for (const o of outcomes) {
      assert.ok(!o.ok && isMeshError(o.error));
      assert.equal(o.error.code, 'ERR_CONNECT');
      assert.equal(o.error.retryable, true);
    }
  });

  it('a record whose headers do not fit an AMQP frame is refused alone; the channel keeps working', async () => {
    const broker = await connect();
    const topic = `big.${randomUUID().slice(0, 8)}`;
    const queue = await boundQueue(topic);
    const huge = { 'x-note': 'n'.repeat(70_000) };
    const outcomes = await broker.publish([record(topic), record(topic, 'x', huge), record(topic)]);
    assert.deepEqual(
      outcomes.map((o) => o.ok),
      [true, false, true],
    );
    const refused = outcomes[1]!;
    assert.ok(!refused.ok && isMeshError(refused.error));
    assert.equal(refused.error.code, 'ERR_BROKER_REJECTED');
    const [later] = await broker.publish([record(topic)]);
    assert.ok(later?.ok);
    assert.equal(await readyCount(queue), 3);
  });

  it('rejects a batch on a closed broker', async () => {
    const broker = await connect();
    await broker.close();
    await assert.rejects(
      broker.publish([record('any.topic')]),
      (e: unknown) => isMeshError(e) && e.code === 'ERR_CLOSED',
    );
  });
});
