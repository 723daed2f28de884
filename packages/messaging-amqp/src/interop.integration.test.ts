import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createContext } from '@meshkit/core';
import { consume, headerNames, type Message, publisher } from '@meshkit/messaging';
import amqp from 'amqplib';
import { type AmqpBroker, amqpBroker } from './amqp-broker.ts';
import { eventually } from './test-support/eventually.ts';
import { rabbitmqctl, type TestVhost, testVhost } from './test-support/rabbit.ts';

// The seed's wire contract, checked against peers written with the stock client alone (as the seed's
// pika snippets are): no meshkit code on the other side.
let vhost: TestVhost;
const brokers: AmqpBroker[] = [];
const connect = async () => {
  const b = await amqpBroker({ url: vhost.url });
  brokers.push(b);
  return b;
};
before(async () => {
  vhost = await testVhost('interop');
});
after(async () => {
  for (const b of brokers) await b.close();
  await vhost.remove();
});

/** The seed's MessageProducer, with amqplib in place of pika. */
async function stockProducer(url: string) {
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  await channel.assertExchange('events', 'topic', { durable: true });
  return {
    async publish(routingKey: string, message: { id: string; timestamp: number } & Record<string, unknown>) {
      channel.publish('events', routingKey, Buffer.from(JSON.stringify(message)), {
        deliveryMode: 2,
        contentType: 'application/json',
        messageId: message.id,
        timestamp: message.timestamp,
      });
      await channel.waitForConfirms();
    },
    close: () => connection.close(),
  };
}

/** The seed's MessageConsumer: its own durable queue bound with `user.*`, ack after the callback. */
async function stockConsumer(url: string, queue: string) {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  await channel.assertQueue(queue, { durable: true });
  await channel.bindQueue(queue, 'events', 'user.*');
  await channel.prefetch(1);
  const got: amqp.ConsumeMessage[] = [];
  await channel.consume(queue, (msg) => {
    if (msg === null) return;
    got.push(msg);
    channel.ack(msg);
  });
  return { got, close: () => connection.close() };
}

describe('RabbitMQ wire contract (the seed)', () => {
  it('a stock producer publishes, a meshkit consumer in group notifications handles it', async () => {
    const broker = await connect();
    const handled: Message[] = [];
    const consumer = await consume(broker, {
      group: 'notifications',
      patterns: ['user.*'],
      handler: async (msg) => {
        handled.push(msg);
      },
    });
    const producer = await stockProducer(vhost.url);
    const now = Date.now();
    await producer.publish('user.created', { id: 'user-123', email: 'a@example.com', timestamp: now });
    await producer.publish('user.deleted', { id: 'user-124', timestamp: now });
    await producer.publish('order.created', { id: 'order-1', timestamp: now });
    await eventually(() => handled.length >= 2, 'both user events');
    await consumer.stop();
    await producer.close();
    assert.deepEqual(
      handled.map((m) => [m.id, m.topic, m.type]),
      [
        ['user-123', 'user.created', 'user.created'],
        ['user-124', 'user.deleted', 'user.deleted'],
      ],
    );
    assert.deepEqual(handled[0]!.data, { id: 'user-123', email: 'a@example.com', timestamp: now });
    // The seed writes milliseconds into `timestamp`; they are read as such.
    assert.equal(handled[0]!.time, new Date(now).toISOString());
    assert.equal(handled[0]!.source, '/amqp/events');
  });

  it('a meshkit publisher publishes, a stock consumer reads plain persistent JSON with id and timestamp', async () => {
    const broker = await connect();
    const stock = await stockConsumer(vhost.url, 'user_events');
    const events = publisher(broker, { source: '/user-service' });
    const ctx = createContext({ deadline: Date.now() + 60_000 }).with({
      metadata: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    const before = Math.floor(Date.now() / 1_000);
    const receipt = await events.publish('user.created', { id: '42', name: 'Ada' }, { key: '42' }, ctx);
    await events.publish('user.updated', { id: '42', name: 'Ada L.' });
    await eventually(() => stock.got.length >= 2, 'both user events at the stock consumer');
    await stock.close();
    const [created, updated] = stock.got;
    assert.equal(stock.got.length, 2);
    assert.deepEqual(JSON.parse(created!.content.toString('utf8')), { id: '42', name: 'Ada' });
    assert.deepEqual(JSON.parse(updated!.content.toString('utf8')), { id: '42', name: 'Ada L.' });
    assert.equal(created!.fields.exchange, 'events');
    assert.equal(created!.fields.routingKey, 'user.created');
    const p = created!.properties;
    assert.equal(p.deliveryMode, 2, 'persistent');
    assert.equal(p.contentType, 'application/json');
    assert.equal(p.messageId, receipt.id);
    assert.ok(p.timestamp >= before && p.timestamp <= before + 60, 'timestamp in POSIX seconds');
    const h = p.headers!;
    assert.equal(h['cloudEvents:id'], receipt.id);
    assert.equal(h['cloudEvents:source'], '/user-service');
    assert.equal(h['cloudEvents:type'], 'user.created');
    assert.equal(h['cloudEvents:specversion'], '1.0');
    assert.equal(h['cloudEvents:partitionkey'], '42');
    assert.equal(h[headerNames.traceparent], '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    assert.equal(h[headerNames.deadline], String(ctx.deadline));
  });

  it('declares the seed topology: durable topic exchange events, a durable queue per group bound with its patterns', async () => {
    const broker = await connect();
    const consumer = await consume(broker, {
      group: 'seed-topology',
      patterns: ['user.*'],
      handler: async () => {},
    });
    await consumer.stop();
    const listed = await rabbitmqctl('list_exchanges', '-p', vhost.name, '-q', 'name', 'type', 'durable');
    assert.match(listed, /^events\ttopic\ttrue$/m);
    const queues = await rabbitmqctl('list_queues', '-p', vhost.name, '-q', 'name', 'durable');
    assert.match(queues, /^seed-topology\ttrue$/m);
    assert.match(queues, /^seed-topology\.dlq\ttrue$/m);
    const bindings = await rabbitmqctl(
      'list_bindings',
      '-p',
      vhost.name,
      '-q',
      'source_name',
      'destination_name',
      'routing_key',
    );
    assert.match(bindings, /^events\tseed-topology\tuser\.\*$/m);
  });

  it('connects with heartbeats on and a connection name', async () => {
    await connect();
    const listed = await rabbitmqctl(
      'list_connections',
      '-p',
      vhost.name,
      '-q',
      'client_properties',
      'timeout',
    );
    assert.match(listed, /meshkit/);
    assert.match(listed, /\t10$/m);
  });
});
