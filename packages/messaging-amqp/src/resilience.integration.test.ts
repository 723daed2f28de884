import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { consume, inboxLayer, inboxTx, publisher } from '@meshkit/messaging';
import { type AmqpBroker, amqpBroker } from './amqp-broker.ts';
import { type AmqpConnectionEvent, amqpChannels } from './channels.ts';
import { eventually } from './test-support/eventually.ts';
import { memorySqliteInbox } from './test-support/memory-sqlite-inbox.ts';
import { rabbitmqctl, type TestVhost, testVhost } from './test-support/rabbit.ts';

// The broker's connections are closed under a 10,000-message run three times, and the broker itself is
// stopped and started once. Every confirmed message must reach the consumer (duplicates allowed: the
// inbox absorbs them) and the run must finish by itself.
let vhost: TestVhost;
let appStopped = false;
const brokers: AmqpBroker[] = [];
before(async () => {
  vhost = await testVhost('resilience');
});
after(async () => {
  if (appStopped) await rabbitmqctl('start_app');
  for (const b of brokers) await b.close();
  await vhost.remove();
});

describe('RabbitMQ connection resilience', () => {
  it('10,000 messages through 3 forced connection closes and a broker restart: every confirmed one is delivered', async () => {
    const events: AmqpConnectionEvent[] = [];
    const record = (e: AmqpConnectionEvent) => events.push(e);
    amqpChannels.connection.subscribe(record);
    const options = { url: vhost.url, reconnectMaxDelayMs: 1_000, outageWaitMs: 60_000 };
    const producer = await amqpBroker({ ...options, connectionName: 'resilience-producer' });
    const consumerBroker = await amqpBroker({ ...options, connectionName: 'resilience-consumer' });
    brokers.push(producer, consumerBroker);
    const topic = `chaos.${randomUUID().slice(0, 8)}`;
    const seen = new Set<string>();
    // Duplicates (redeliveries, re-published unconfirmed messages) are absorbed by an inbox.
    const store = memorySqliteInbox();
    const insert = store.db.prepare('INSERT INTO effects (id) VALUES (?)');
    const consumer = await consume(consumerBroker, {
      group: `chaos-${randomUUID().slice(0, 8)}`,
      topics: [topic],
      concurrency: 8,
      prefetch: 200,
      handler: inboxLayer(store.inbox).wrap(async (msg, ctx) => {
        // The effect runs in the inbox's transaction: it commits with the event id, or not at all.
        assert.equal(inboxTx<DatabaseSync>(ctx), store.db);
        insert.run(msg.id);
        seen.add(msg.id);
      }),
    });

    const total = 10_000;
    const batch = 200;
    const ids = Array.from({ length: total }, () => randomUUID());
    const confirmed = new Set<string>();
    const events$ = publisher(producer, { source: '/resilience' });
    const chaos: Promise<unknown>[] = [];
    const closeAll = () => rabbitmqctl('close_all_connections', '-p', vhost.name, 'resilience test');
    const restart = async () => {
      appStopped = true;
      await rabbitmqctl('stop_app');
      await rabbitmqctl('start_app');
      appStopped = false;
    };
    const lastState = (name: string) =>
      events
        .filter((e) => e.connection === name && (e.state === 'connected' || e.state === 'disconnected'))
        .at(-1)?.state;
    // Each cut waits for the one before it and for both connections to be up again, so every cut hits an
    // established connection (rabbitmqctl can take longer than the rounds between cuts); publishing goes
    // on meanwhile.
    let previousCut: Promise<unknown> = Promise.resolve();
    const cut = (action: () => Promise<unknown>): void => {
      previousCut = previousCut
        .then(() =>
          eventually(
            () => ['resilience-producer', 'resilience-consumer'].every((n) => lastState(n) === 'connected'),
            'both connections up before the next cut',
            60_000,
          ),
        )
        .then(action);
      chaos.push(previousCut);
    };
    let round = 0;
    // Publishes like an outbox relay: what is not confirmed is published again with the same id.
    for (let start = 0; start < total; start += batch) {
      round++;
      if (round === 5 || round === 15 || round === 25) cut(closeAll);
      if (round === 35) cut(restart);
      let todo = ids.slice(start, start + batch);
      while (todo.length > 0) {
        const outcomes = await events$.publishBatch(todo.map((id) => ({ topic, id, data: { id } })));
        for (const o of outcomes) if (o.ok) confirmed.add(o.id);
        todo = todo.filter((id) => !confirmed.has(id));
      }
      await new Promise<void>((resolve) => setTimeout(resolve, 20));
    }
    await Promise.all(chaos);
    assert.equal(confirmed.size, total);
    await eventually(() => [...confirmed].every((id) => seen.has(id)), 'every confirmed message', 120_000);
    for (const name of ['resilience-producer', 'resilience-consumer']) {
      // The last cut may land after every message was delivered (rabbitmqctl is slow to start on a busy
      // machine): wait for the connection to be back. A connection closed while it was still being set
      // up is lost without ever counting as connected, so the two counts need not pair up.
      const states = () =>
        events
          .filter((e) => e.connection === name && (e.state === 'connected' || e.state === 'disconnected'))
          .map((e) => e.state);
      await eventually(
        () => states().at(-1) === 'connected',
        `${name} to come back after the last cut`,
        60_000,
      );
      const lost = states().filter((state) => state === 'disconnected').length;
      assert.ok(lost >= 4, `${name} lost its connection 4 times or more: ${states().join(' ')}`);
    }
    await consumer.stop();
    amqpChannels.connection.unsubscribe(record);
    assert.equal(store.effects(), total, 'each message had its effect exactly once');
    const handled = consumer.describe().handled as number;
    assert.ok(handled >= total);
    console.log(`resilience: ${total} confirmed, ${handled} handled, ${handled - total} duplicates absorbed`);
  });
});
