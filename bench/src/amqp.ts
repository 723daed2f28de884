/**
 * RabbitMQ: the meshkit adapter (`@meshkit/messaging-amqp` under `publisher()` / `consume()`) beside a
 * plain amqplib loop doing the same work, in the same process and run, against the machine's RabbitMQ
 * (`MESHKIT_AMQP_URL`, default amqp://guest:guest@127.0.0.1:5672):
 *
 *   publish   100,000 persistent 200-byte JSON messages on a confirm channel, at most 1,000 unconfirmed
 *   consume   the same 100,000 from a durable queue, prefetch 100 (amqplib: one ack per message),
 *             timed from each consumer's first delivery to its last, so its setup is not counted
 *
 * The amqplib peer runs twice: with the CloudEvents headers meshkit writes (the same message on the
 * wire; the ratios are taken against it) and bare, as the seed's producer sends it (properties only).
 * rabbitmq-client, the other maintained AMQP 0-9-1 client for Node.js, runs beside them as the peer
 * the adapter could have been built on: the same message, a confirming publisher (`createPublisher({
 * confirm: true })`) kept at 1,000 unconfirmed sends, and a `createConsumer` at prefetch 100 that acks
 * when its handler returns (the client parses the JSON body itself).
 *
 * Each round runs the peers one after the other, in reverse order in every other round; each row
 * reports the best rate of its rounds and the least client CPU per message (user + system time of this
 * process, µs: steadier than rates on a busy machine, where the broker's share of the cores decides
 * the rate), and the ratios meshkit / amqplib (same headers) close the output: of the best rates,
 * and the median of the ratios within each round (both peers ran within seconds of each other there,
 * so a slow stretch of the shared machine or the broker weighs on both). `--json` lines are
 * {name, msgPerSec, cpuUsPerMsg}.
 */
import { randomUUID } from 'node:crypto';
import { consume, publisher } from '@meshkit/messaging';
import { amqpBroker } from '@meshkit/messaging-amqp';
import amqp from 'amqplib';
import { Connection as RabbitClient, type Publisher as RabbitPublisher } from 'rabbitmq-client';

const url = process.env.MESHKIT_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const count = Number(process.env.MESHKIT_BENCH_AMQP_COUNT ?? 100_000);
const rounds = Number(process.env.MESHKIT_BENCH_AMQP_ROUNDS ?? 5);
const window = 1_000;
const prefetch = 100;
const pad = 'x'.repeat(170);
/** ~200 bytes of JSON once encoded. */
const body = (i: number) => ({ i, t: Date.now(), pad });

/**
 * The headers table meshkit writes (CloudEvents attributes), for the amqplib peer that sends the same
 * message on the wire: the broker's work grows with the message, so this is the like-for-like peer.
 */
function cloudEventHeaders(id: string): Record<string, string> {
  return {
    'cloudEvents:specversion': '1.0',
    'cloudEvents:id': id,
    'cloudEvents:source': '/bench',
    'cloudEvents:type': 'raw',
    'cloudEvents:time': new Date().toISOString(),
  };
}

/** The stock loop: publish with a callback each, wait whenever `window` confirms are outstanding. */
async function rawPublish(
  channel: amqp.ConfirmChannel,
  exchange: string,
  topic: string,
  withHeaders: boolean,
): Promise<number> {
  const t0 = performance.now();
  let outstanding = 0;
  let wake: (() => void) | undefined;
  let failed: unknown;
  for (let i = 0; i < count; i++) {
    if (outstanding >= window) await new Promise<void>((resolve) => (wake = resolve));
    outstanding++;
    const messageId = randomUUID();
    const options: amqp.Options.Publish = {
      persistent: true,
      contentType: 'application/json',
      messageId,
      timestamp: Math.floor(Date.now() / 1_000),
    };
    if (withHeaders) options.headers = cloudEventHeaders(messageId);
    channel.publish(exchange, topic, Buffer.from(JSON.stringify(body(i))), options, (err: unknown) => {
      if (err) failed = err;
      outstanding--;
      const w = wake;
      wake = undefined;
      w?.();
    });
  }
  await channel.waitForConfirms();
  if (failed !== undefined) throw failed;
  return (count / (performance.now() - t0)) * 1_000;
}

/**
 * rabbitmq-client's confirming publisher driven like the amqplib loop: each `send` resolves on its
 * confirm, and the loop waits whenever `window` sends are outstanding.
 */
async function rabbitClientPublish(pub: RabbitPublisher, exchange: string, topic: string): Promise<number> {
  const t0 = performance.now();
  let outstanding = 0;
  let wake: (() => void) | undefined;
  let failed: unknown;
  const settled = () => {
    outstanding--;
    const w = wake;
    wake = undefined;
    w?.();
  };
  for (let i = 0; i < count; i++) {
    if (outstanding >= window) await new Promise<void>((resolve) => (wake = resolve));
    outstanding++;
    const messageId = randomUUID();
    pub
      .send(
        {
          exchange,
          routingKey: topic,
          durable: true,
          contentType: 'application/json',
          messageId,
          timestamp: Math.floor(Date.now() / 1_000),
          headers: cloudEventHeaders(messageId),
        },
        Buffer.from(JSON.stringify(body(i))),
      )
      .then(settled, (err: unknown) => {
        failed = err;
        settled();
      });
  }
  while (outstanding > 0) await new Promise<void>((resolve) => (wake = resolve));
  if (failed !== undefined) throw failed;
  return (count / (performance.now() - t0)) * 1_000;
}

/**
 * A consumer's clock, the same for every peer: it starts at the first delivery its handler sees and
 * stops at the last, so the setup each one does first (a channel and its qos for amqplib; queues,
 * bindings, retry and dead-letter declarations for meshkit) stays out of the rate. `finished` resolves
 * with the rate over the `count - 1` deliveries after the first.
 */
function deliveryClock(): { tick(): void; readonly finished: Promise<number> } {
  let seen = 0;
  let first = 0;
  let done!: (rate: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));
  return {
    tick() {
      if (++seen === 1) first = performance.now();
      else if (seen === count) done(((count - 1) / (performance.now() - first)) * 1_000);
    },
    finished,
  };
}

/** rabbitmq-client's consumer: prefetch 100, the body parsed by the client, acked when the handler returns. */
async function rabbitClientConsume(client: RabbitClient, queue: string): Promise<number> {
  const clock = deliveryClock();
  const consumer = client.createConsumer(
    { queue, queueOptions: { durable: true }, qos: { prefetchCount: prefetch } },
    async () => {
      clock.tick();
    },
  );
  const rate = await clock.finished;
  await consumer.close();
  return rate;
}

/** The stock consumer: prefetch 100, parse, ack each. */
async function rawConsume(connection: amqp.ChannelModel, queue: string): Promise<number> {
  const channel = await connection.createChannel();
  await channel.prefetch(prefetch);
  const clock = deliveryClock();
  await channel.consume(queue, (msg) => {
    if (msg === null) return;
    JSON.parse(msg.content.toString('utf8'));
    channel.ack(msg);
    clock.tick();
  });
  const rate = await clock.finished;
  await channel.close();
  return rate;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const id = randomUUID().slice(0, 8);
  const exchange = `bench-${id}`;
  const rawQueue = `bench-raw-${id}`;
  const bareQueue = `bench-bare-${id}`;
  const rabbitQueue = `bench-rabbitmq-client-${id}`;
  const group = `bench-mesh-${id}`;
  const stock = await amqp.connect(url);
  const setup = await stock.createChannel();
  await setup.assertExchange(exchange, 'topic', { durable: true });
  await setup.assertQueue(rawQueue, { durable: true });
  await setup.bindQueue(rawQueue, exchange, 'raw');
  await setup.assertQueue(bareQueue, { durable: true });
  await setup.bindQueue(bareQueue, exchange, 'bare');
  await setup.assertQueue(rabbitQueue, { durable: true });
  await setup.bindQueue(rabbitQueue, exchange, 'rabbitmq-client');
  const rabbit = new RabbitClient({ url, connectionName: 'bench-rabbitmq-client' });
  await rabbit.onConnect();
  const rabbitPub = rabbit.createPublisher({ confirm: true });
  const confirm = await stock.createConfirmChannel();
  const broker = await amqpBroker({ url, exchange, maxUnconfirmed: window, connectionName: 'bench' });
  // Join the group first so its queue retains what is published, then leave it until the consume phase.
  await (await consume(broker, { group, topics: ['mesh'], handler: async () => {} })).stop();

  const best = new Map<string, number>();
  /** Every round's rate, in round order: a peer's rate over amqplib's in the same round is one ratio. */
  const rates = new Map<string, number[]>();
  const cpu = new Map<string, number>();
  /** Runs a phase; keeps its rates and its least client CPU per message (user + system, µs). */
  const keep = async (name: string, phase: () => Promise<number>) => {
    const before = process.cpuUsage();
    const rate = await phase();
    const used = process.cpuUsage(before);
    best.set(name, Math.max(best.get(name) ?? 0, rate));
    rates.set(name, [...(rates.get(name) ?? []), rate]);
    cpu.set(name, Math.min(cpu.get(name) ?? Number.POSITIVE_INFINITY, (used.user + used.system) / count));
  };
  const meshPublish = async () => {
    const events = publisher(broker, { source: '/bench', windowSize: window, maxBatch: 100 });
    const t0 = performance.now();
    // Handed over all at once, like the amqplib loop: the publisher's window paces them, with no
    // barrier where the pipeline would drain.
    const pending = new Array<Promise<unknown>>(count);
    for (let i = 0; i < count; i++) pending[i] = events.publish('mesh', body(i));
    await Promise.all(pending);
    return (count / (performance.now() - t0)) * 1_000;
  };
  const meshConsume = async () => {
    const clock = deliveryClock();
    const consumer = await consume(broker, {
      group,
      topics: ['mesh'],
      prefetch,
      handler: async () => {
        clock.tick();
      },
    });
    const rate = await clock.finished;
    await consumer.stop();
    return rate;
  };
  try {
    for (let round = 0; round < rounds; round++) {
      const publishers: [string, () => Promise<number>][] = [
        ['amqplib publish', () => rawPublish(confirm, exchange, 'raw', true)],
        ['meshkit publish', meshPublish],
        ['rabbitmq-client publish', () => rabbitClientPublish(rabbitPub, exchange, 'rabbitmq-client')],
        ['amqplib publish (bare)', () => rawPublish(confirm, exchange, 'bare', false)],
      ];
      const consumers: [string, () => Promise<number>][] = [
        ['amqplib consume', () => rawConsume(stock, rawQueue)],
        ['meshkit consume', meshConsume],
        ['rabbitmq-client consume', () => rabbitClientConsume(rabbit, rabbitQueue)],
        ['amqplib consume (bare)', () => rawConsume(stock, bareQueue)],
      ];
      if (round % 2 === 1) {
        publishers.reverse();
        consumers.reverse();
      }
      for (const [name, f] of publishers) await keep(name, f);
      for (const [name, f] of consumers) await keep(name, f);
    }
  } finally {
    await broker.close();
    await rabbitPub.close();
    await rabbit.close();
    await setup.deleteQueue(rawQueue);
    await setup.deleteQueue(bareQueue);
    await setup.deleteQueue(rabbitQueue);
    for (const q of [group, `${group}.dlq`]) await setup.deleteQueue(q);
    await setup.deleteExchange(exchange);
    await stock.close();
  }
  const rows = [...best].map(([name, rate]) => ({
    name: `amqp ${name}`,
    msgPerSec: Math.round(rate),
    cpuUsPerMsg: Number(cpu.get(name)!.toFixed(1)),
  }));
  if (json) {
    for (const row of rows) console.log(JSON.stringify(row));
    return;
  }
  const ratio = (peer: string, what: string) =>
    (best.get(`${peer} ${what}`)! / best.get(`amqplib ${what}`)!).toFixed(2);
  console.log(
    `\namqp: ${count.toLocaleString('en-US')} persistent 200-byte messages, window ${window}, prefetch ${prefetch}; best of ${rounds} alternating rounds`,
  );
  console.table(
    rows.map((r) => ({
      scenario: r.name,
      'msg/s': r.msgPerSec.toLocaleString('en-US'),
      'client CPU µs/msg': r.cpuUsPerMsg,
    })),
  );
  const cpuRatio = (peer: string, what: string) =>
    (cpu.get(`${peer} ${what}`)! / cpu.get(`amqplib ${what}`)!).toFixed(2);
  const pairedRatios = (peer: string, what: string) => {
    const ours = rates.get(`${peer} ${what}`)!;
    const theirs = rates.get(`amqplib ${what}`)!;
    const each = ours.map((rate, i) => rate / theirs[i]!);
    return `${median(each).toFixed(2)}x (rounds: ${each.map((r) => r.toFixed(2)).join(', ')})`;
  };
  for (const peer of ['meshkit', 'rabbitmq-client']) {
    console.log(
      `${peer} / amqplib (same headers), best rate: publish ${ratio(peer, 'publish')}x, consume ${ratio(peer, 'consume')}x; ` +
        `client CPU per message: publish ${cpuRatio(peer, 'publish')}x, consume ${cpuRatio(peer, 'consume')}x`,
    );
    console.log(
      `  median of the ratios within each round: publish ${pairedRatios(peer, 'publish')}, consume ${pairedRatios(peer, 'consume')}`,
    );
  }
}
