/**
 * The Kafka adapter (`@meshkit/messaging-kafka`) beside the raw client it is built on
 * (`@platformatic/kafka`), on a running broker (`scripts/services/up-kafka.sh`, or MESHKIT_KAFKA_BROKER):
 *
 *   publish   100,000 records of ~200 B keyed by 1,000 ids onto a 6-partition topic, acknowledged
 *             (idempotent, acks=all, zstd): chunks of 1,000 records, 5 chunks awaited in flight, for both; the
 *             raw loop writes the same records (JSON value, CloudEvents attributes as `ce_*` headers)
 *   consume   each peer's own backlog read back by a fresh group, every record parsed and its offset committed
 *             (raw: header lookup + JSON.parse, a commit per 1,000 records; meshkit: consume() with a no-op
 *             handler, concurrency 8: envelope decode, key scheduling, a commit after the handlers; meshkit
 *             batch: consumeBatch() with batches of up to 500 and a no-op handler)
 *
 * Each peer runs three times, taking turns to go first; the best run counts, and the median of the
 * ratios within each round (where both peers ran within seconds of each other) is printed beside it.
 * `--json` prints one object per line: {name, msgPerSec, cpuUsPerMsg}, with `publish` or `consume` in
 * the name; ratios are meshkit / raw.
 */
import { randomUUID } from 'node:crypto';
import { consume, consumeBatch, type Consumer as MeshConsumer, publisher } from '@meshkit/messaging';
import { kafkaBroker } from '@meshkit/messaging-kafka';
import {
  Admin,
  Consumer,
  compatibilityPartitioner,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializer,
  stringSerializer,
} from '@platformatic/kafka';

const bootstrap = process.env.MESHKIT_KAFKA_BROKER ?? '127.0.0.1:9092';
const total = 100_000;
const ids = 1_000;
const batch = 1_000;
const window = 5;
const rounds = 3;
const pad = 'x'.repeat(170);
const value = (i: number) => ({ i, user: `user-${i % ids}`, pad });

export async function createTopic(admin: Admin): Promise<string> {
  const topic = `bench.kafka.${randomUUID().slice(0, 8)}`;
  await admin.createTopics({ topics: [topic], partitions: 6, replicas: 1 });
  return topic;
}

export async function rawPublish(topic: string): Promise<number> {
  const producer = new Producer({
    clientId: 'bench-raw',
    bootstrapBrokers: [bootstrap],
    idempotent: true,
    acks: ProduceAcks.ALL,
    compression: 'zstd',
    serializers: { key: stringSerializer, headerKey: stringSerializer, headerValue: stringSerializer },
    partitioner: (message, key) => compatibilityPartitioner(message, key as Buffer),
  });
  const t0 = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < total; i += batch) {
    const messages = [];
    for (let j = i; j < i + batch; j++) {
      messages.push({
        topic,
        key: `user-${j % ids}`,
        value: Buffer.from(JSON.stringify(value(j))),
        // The same record as meshkit writes: CloudEvents attributes in headers (Kafka binding).
        headers: new Map([
          ['ce_specversion', '1.0'],
          ['ce_id', randomUUID()],
          ['ce_source', '/bench'],
          ['ce_type', topic],
          ['ce_time', new Date().toISOString()],
          ['content-type', 'application/json'],
        ]),
      });
    }
    const p = producer.send({ messages });
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const rate = (total / (performance.now() - t0)) * 1_000;
  await producer.close();
  return rate;
}

export async function meshkitPublish(topic: string): Promise<number> {
  const broker = kafkaBroker({ brokers: [bootstrap], clientId: 'bench-meshkit' });
  const events = publisher(broker, { source: '/bench', windowSize: batch * window, maxBatch: batch });
  const t0 = performance.now();
  // The raw loop's shape: chunks of `batch` records, `window` chunks awaited in flight.
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < total; i += batch) {
    const pending = [];
    for (let j = i; j < i + batch; j++)
      pending.push(events.publish(topic, value(j), { key: `user-${j % ids}` }));
    const p = Promise.all(pending);
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const rate = (total / (performance.now() - t0)) * 1_000;
  await broker.close();
  return rate;
}

/** Reads the whole topic with a fresh group; the clock starts at the first record (after the join). */
async function rawConsume(topic: string): Promise<number> {
  const consumer = new Consumer({
    clientId: 'bench-raw',
    groupId: `bench-raw-${randomUUID().slice(0, 8)}`,
    bootstrapBrokers: [bootstrap],
    autocommit: false,
    maxWaitTime: 500,
    deserializers: {
      key: stringDeserializer,
      headerKey: stringDeserializer,
      headerValue: stringDeserializer,
    },
  });
  const stream = await consumer.consume({
    topics: [topic],
    mode: MessagesStreamModes.COMMITTED,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
  });
  let count = 0;
  let t0 = 0;
  const last = new Map<string, { topic: string; partition: number; offset: bigint; leaderEpoch: number }>();
  const commit = () => consumer.commit({ offsets: [...last.values()] });
  const rate = await new Promise<number>((resolve, reject) => {
    stream.on('data', (m) => {
      if (count === 0) t0 = performance.now();
      // What any handler of these records does first: read the id header and parse the JSON value.
      if (m.headers.get('ce_id') === undefined || JSON.parse(m.value.toString()) === null)
        throw new Error('bad record');
      count++;
      last.set(`${m.partition}`, {
        topic: m.topic,
        partition: m.partition,
        offset: m.offset + 1n,
        leaderEpoch: m.leaderEpoch,
      });
      if (count % batch === 0) {
        const done = count === total;
        commit().then(() => {
          if (done) resolve((total / (performance.now() - t0)) * 1_000);
        }, reject);
      }
    });
  });
  await stream.close();
  await consumer.close(true);
  return rate;
}

/** consume() (`batch` 0) or consumeBatch() with batches of up to `batch`, from the topic's start. */
async function meshkitConsume(topic: string, batch = 0): Promise<number> {
  const broker = kafkaBroker({ brokers: [bootstrap], clientId: 'bench-meshkit' });
  const group = `bench-meshkit-${randomUUID().slice(0, 8)}`;
  // A new meshkit group starts at the end of existing topics: place it at the start first.
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: [bootstrap] });
  await admin.alterConsumerGroupOffsets({
    groupId: group,
    topics: [
      { name: topic, partitionOffsets: Array.from({ length: 6 }, (_, p) => ({ partition: p, offset: 0n })) },
    ],
  });
  await admin.close();
  let count = 0;
  let t0 = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const handled = (n: number) => {
    if (count === 0) t0 = performance.now();
    count += n;
    if (count === total) finish();
  };
  const consumer: MeshConsumer =
    batch === 0
      ? await consume(broker, {
          group,
          topics: [topic],
          concurrency: 8,
          prefetch: 2_000,
          handler: async () => handled(1),
        })
      : await consumeBatch(broker, {
          group,
          topics: [topic],
          maxMessages: batch,
          maxWaitMs: 100,
          prefetch: 2_000,
          handler: async (messages) => handled(messages.length),
        });
  await finished;
  await consumer.stop(); // commits what is left
  const rate = (total / (performance.now() - t0)) * 1_000;
  await broker.close();
  return rate;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: [bootstrap] });
  const best = new Map<string, number>();
  /** Every round's rate, in round order: meshkit's over the raw client's in the same round is one ratio. */
  const rates = new Map<string, number[]>();
  const cpu = new Map<string, number>();
  /** Runs a phase; keeps its rates and its least client CPU per record (user + system, µs). */
  const record = async (name: string, phase: () => Promise<number>) => {
    const before = process.cpuUsage();
    const rate = await phase();
    const used = process.cpuUsage(before);
    best.set(name, Math.max(best.get(name) ?? 0, rate));
    rates.set(name, [...(rates.get(name) ?? []), rate]);
    cpu.set(name, Math.min(cpu.get(name) ?? Number.POSITIVE_INFINITY, (used.user + used.system) / total));
  };
  try {
    for (let round = 0; round < rounds; round++) {
      const rawTopic = await createTopic(admin);
      const ourTopic = await createTopic(admin);
      // Each peer reads back what it wrote (the same records); whoever goes first meets a broker with
      // less behind it (segments, page cache, garbage), so the peers take turns.
      const raw = async () => {
        await record('raw publish', () => rawPublish(rawTopic));
        await record('raw consume', () => rawConsume(rawTopic));
      };
      const ours = async () => {
        await record('meshkit publish', () => meshkitPublish(ourTopic));
        await record('meshkit consume', () => meshkitConsume(ourTopic));
        await record('meshkit batch', () => meshkitConsume(ourTopic, 500));
      };
      if (round % 2 === 0) {
        await ours();
        await raw();
      } else {
        await raw();
        await ours();
      }
      await admin.deleteTopics({ topics: [rawTopic, ourTopic] });
    }
  } finally {
    await admin.close();
  }
  const names: [string, string][] = [
    ['raw publish', 'kafka publish raw @platformatic/kafka (acks=all, idempotent, zstd)'],
    ['meshkit publish', 'kafka publish meshkit publisher()'],
    ['raw consume', 'kafka consume raw @platformatic/kafka (commit per 1,000)'],
    ['meshkit consume', 'kafka consume meshkit consume() (commit after handler)'],
    ['meshkit batch', 'kafka consume meshkit consumeBatch() (up to 500 per batch)'],
  ];
  const rows = names.map(([key, name]) => ({
    name,
    msgPerSec: Math.round(best.get(key)!),
    cpuUsPerMsg: Number(cpu.get(key)!.toFixed(1)),
  }));
  if (json) {
    for (const r of rows) console.log(JSON.stringify(r));
    return;
  }
  console.log(
    `\nkafka: ${total.toLocaleString('en-US')} records of ~200 B, ${ids} keys, 6 partitions, best of ${rounds}`,
  );
  console.table(
    rows.map((r) => ({
      scenario: r.name,
      'msg/s': r.msgPerSec.toLocaleString('en-US'),
      'client CPU µs/msg': r.cpuUsPerMsg,
    })),
  );
  const ratio = (a: string, b: string) => (best.get(a)! / best.get(b)!).toFixed(2);
  const cpuRatio = (a: string, b: string) => (cpu.get(a)! / cpu.get(b)!).toFixed(2);
  console.log(
    `meshkit / raw, rate: publish ${ratio('meshkit publish', 'raw publish')}x, consume ${ratio('meshkit consume', 'raw consume')}x, batch consume ${ratio('meshkit batch', 'raw consume')}x; ` +
      `client CPU per record: publish ${cpuRatio('meshkit publish', 'raw publish')}x, consume ${cpuRatio('meshkit consume', 'raw consume')}x`,
  );
  const paired = (a: string, b: string) => {
    const each = rates.get(a)!.map((rate, i) => rate / rates.get(b)![i]!);
    return `${median(each).toFixed(2)}x (rounds: ${each.map((r) => r.toFixed(2)).join(', ')})`;
  };
  console.log(
    `  median of the ratios within each round: publish ${paired('meshkit publish', 'raw publish')}, consume ${paired('meshkit consume', 'raw consume')}, batch consume ${paired('meshkit batch', 'raw consume')}`,
  );
}
