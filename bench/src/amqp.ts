/**
 * RabbitMQ: the meshkit adapter (`@meshkit/messaging-amqp` under `publisher()` / `consume()`) beside a
 * plain amqplib loop doing the same work, in the same process and run, against the machine's RabbitMQ
 * (`MESHKIT_AMQP_URL`, default amqp://guest:guest@127.0.0.1:5672):
 *
 *   publish   100,000 persistent 200-byte JSON messages on a confirm channel, at most 1,000 unconfirmed
 *   consume   the same 100,000 from a durable queue, prefetch 100, one ack per message
 *
 * Rounds alternate amqplib and meshkit (amqplib first in odd rounds, meshkit first in even ones); each
 * row reports the better of its rounds and the ratio meshkit / amqplib. `--json` prints one object per
 * line: {name, msgPerSec}.
 */
import { randomUUID } from 'node:crypto';
import { consume, publisher } from '@meshkit/messaging';
import { amqpBroker } from '@meshkit/messaging-amqp';
import amqp from 'amqplib';

const url = process.env.MESHKIT_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const count = Number(process.env.MESHKIT_BENCH_AMQP_COUNT ?? 100_000);
const rounds = 2;
const window = 1_000;
const prefetch = 100;
const pad = 'x'.repeat(170);
/** ~200 bytes of JSON once encoded. */
const body = (i: number) => ({ i, t: Date.now(), pad });

/** The stock loop: publish with a callback each, wait whenever `window` confirms are outstanding. */
async function rawPublish(channel: amqp.ConfirmChannel, exchange: string, topic: string): Promise<number> {
  const t0 = performance.now();
  let outstanding = 0;
  let wake: (() => void) | undefined;
  let failed: unknown;
  for (let i = 0; i < count; i++) {
    if (outstanding >= window) await new Promise<void>((resolve) => (wake = resolve));
    outstanding++;
    channel.publish(
      exchange,
      topic,
      Buffer.from(JSON.stringify(body(i))),
      { persistent: true, contentType: 'application/json', messageId: randomUUID(), timestamp: Math.floor(Date.now() / 1_000) },
      (err: unknown) => {
        if (err) failed = err;
        outstanding--;
        const w = wake;
        wake = undefined;
        w?.();
      },
    );
  }
  await channel.waitForConfirms();
  if (failed !== undefined) throw failed;
  return (count / (performance.now() - t0)) * 1_000;
}

/** The stock consumer: prefetch 100, parse, ack each. */
async function rawConsume(connection: amqp.ChannelModel, queue: string): Promise<number> {
  const channel = await connection.createChannel();
  await channel.prefetch(prefetch);
  let seen = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    void channel.consume(queue, (msg) => {
      if (msg === null) return;
      JSON.parse(msg.content.toString('utf8'));
      channel.ack(msg);
      if (++seen === count) resolve();
    });
  });
  const rate = (count / (performance.now() - t0)) * 1_000;
  await channel.close();
  return rate;
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const id = randomUUID().slice(0, 8);
  const exchange = `bench-${id}`;
  const rawQueue = `bench-raw-${id}`;
  const group = `bench-mesh-${id}`;
  const stock = await amqp.connect(url);
  const setup = await stock.createChannel();
  await setup.assertExchange(exchange, 'topic', { durable: true });
  await setup.assertQueue(rawQueue, { durable: true });
  await setup.bindQueue(rawQueue, exchange, 'raw');
  const confirm = await stock.createConfirmChannel();
  const broker = await amqpBroker({ url, exchange, maxUnconfirmed: window, connectionName: 'bench' });
  // Join the group first so its queue retains what is published, then leave it until the consume phase.
  await (await consume(broker, { group, topics: ['mesh'], handler: async () => {} })).stop();

  const best = new Map<string, number>();
  const keep = (name: string, rate: number) => best.set(name, Math.max(best.get(name) ?? 0, rate));
  const meshPublish = async () => {
    const events = publisher(broker, { source: '/bench', windowSize: window, maxBatch: 500 });
    const t0 = performance.now();
    const chunk = 10_000;
    for (let i = 0; i < count; i += chunk) {
      const pending = [];
      for (let j = i; j < Math.min(i + chunk, count); j++) pending.push(events.publish('mesh', body(j)));
      await Promise.all(pending);
    }
    return (count / (performance.now() - t0)) * 1_000;
  };
  const meshConsume = async () => {
    let seen = 0;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const t0 = performance.now();
    const consumer = await consume(broker, {
      group,
      topics: ['mesh'],
      prefetch,
      handler: async () => {
        if (++seen === count) done();
      },
    });
    await finished;
    const rate = (count / (performance.now() - t0)) * 1_000;
    await consumer.stop();
    return rate;
  };
  try {
    for (let round = 0; round < rounds; round++) {
      const pairs: [string, () => Promise<number>][] =
        round % 2 === 0
          ? [
              ['amqplib publish', () => rawPublish(confirm, exchange, 'raw')],
              ['meshkit publish', meshPublish],
            ]
          : [
              ['meshkit publish', meshPublish],
              ['amqplib publish', () => rawPublish(confirm, exchange, 'raw')],
            ];
      for (const [name, f] of pairs) keep(name, await f());
      const consumers: [string, () => Promise<number>][] =
        round % 2 === 0
          ? [
              ['amqplib consume', () => rawConsume(stock, rawQueue)],
              ['meshkit consume', meshConsume],
            ]
          : [
              ['meshkit consume', meshConsume],
              ['amqplib consume', () => rawConsume(stock, rawQueue)],
            ];
      for (const [name, f] of consumers) keep(name, await f());
    }
  } finally {
    await broker.close();
    await setup.deleteQueue(rawQueue);
    for (const q of [group, `${group}.dlq`]) await setup.deleteQueue(q);
    await setup.deleteExchange(exchange);
    await stock.close();
  }
  const rows = [...best].map(([name, rate]) => ({ name: `amqp ${name}`, msgPerSec: Math.round(rate) }));
  if (json) {
    for (const row of rows) console.log(JSON.stringify(row));
    return;
  }
  const ratio = (what: string) => (best.get(`meshkit ${what}`)! / best.get(`amqplib ${what}`)!).toFixed(2);
  console.log(
    `\namqp: ${count.toLocaleString('en-US')} persistent 200-byte messages, window ${window}, prefetch ${prefetch}; best of ${rounds} alternating rounds`,
  );
  console.table(rows.map((r) => ({ scenario: r.name, 'msg/s': r.msgPerSec.toLocaleString('en-US') })));
  console.log(`meshkit / amqplib: publish ${ratio('publish')}x, consume ${ratio('consume')}x`);
}
