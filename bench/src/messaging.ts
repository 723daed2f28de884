/**
 * The embedded broker (`@meshkit/messaging-sqlite`, fully durable: WAL + synchronous=FULL), with the
 * in-memory broker beside it as the no-I/O ceiling of the same publisher/consumer code:
 *
 *   publish            confirmed, batched publish rate (publisher window 5,000, broker batches of 1,000)
 *   consume            end-to-end consume rate of a backlog, handler + ack per message, per group
 *   latency @1000/s    publish-to-handler latency at a fixed 1,000 msg/s, same process
 *   other process      the consumer in another process (woken through the broker's wake file, then
 *                      `PRAGMA data_version`), with durable acks (the default: a relaxed commit, then a
 *                      sync of the WAL off the event loop) and with `durableSettlements: false`
 *   idle wake-up       publish-to-handler latency at 20 msg/s with the consumer in another process:
 *                      it has gone idle before each message, so each one measures a cross-process
 *                      wake-up (what the crash tests only check for order and counts)
 *
 * Every message carries a 200-byte JSON body. `--json` prints one object per line:
 * {name, msgPerSec, p50Ms, p99Ms}.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Broker, consume, memoryBroker, publisher } from '@meshkit/messaging';
import { sqliteBroker } from '@meshkit/messaging-sqlite';

interface Row {
  name: string;
  msgPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

const bulk = 100_000;
const rateMessages = 3_000;
/** Messages of the idle wake-up row: 5 s at 20 msg/s. */
const idleMessages = 100;
const pad = 'x'.repeat(170);
const wallNow = (): number => performance.timeOrigin + performance.now();
/** ~200 bytes of JSON once encoded: {"t":<13-17 digits>,"pad":"xxx..."} */
const body = () => ({ t: wallNow(), pad });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function publishAll(broker: Broker, topic: string, count: number): Promise<number> {
  const events = publisher(broker, { source: '/bench', windowSize: 5_000, maxBatch: 1_000 });
  const t0 = performance.now();
  const chunk = 10_000;
  for (let i = 0; i < count; i += chunk) {
    const pending = [];
    for (let j = 0; j < Math.min(chunk, count - i); j++) pending.push(events.publish(topic, body()));
    await Promise.all(pending);
  }
  return (count / (performance.now() - t0)) * 1_000;
}

/** Publishes `count` messages, then consumes them with `groups` groups at once; rate per group. */
async function consumeBacklog(broker: Broker, topic: string, count: number, groups: number): Promise<number> {
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const seen = new Array<number>(groups).fill(0);
  const consumers = [];
  for (let g = 0; g < groups; g++) {
    // Join first so each group retains the backlog, then stop until it is all published.
    const c = await consume(broker, { group: `${topic}-g${g}`, topics: [topic], handler: async () => {} });
    await c.stop();
  }
  await publishAll(broker, topic, count);
  const t0 = performance.now();
  for (let g = 0; g < groups; g++) {
    consumers.push(
      await consume(broker, {
        group: `${topic}-g${g}`,
        topics: [topic],
        prefetch: 1_000,
        handler: async () => {
          if (++seen[g]! === count && ++done === groups) finish();
        },
      }),
    );
  }
  await finished;
  const rate = (count / (performance.now() - t0)) * 1_000;
  await Promise.all(consumers.map((c) => c.stop()));
  return rate;
}

/** Publishes one message every `1000 / perSec` ms and records publish-to-handler latency. */
async function latencyAt(broker: Broker, topic: string, perSec: number, count: number): Promise<number[]> {
  const latencies: number[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const c = await consume<{ t: number }>(broker, {
    group: `${topic}-lat`,
    topics: [topic],
    handler: async (msg) => {
      latencies.push(wallNow() - msg.data.t);
      if (latencies.length === count) finish();
    },
  });
  await paced(broker, topic, perSec, count);
  await finished;
  await c.stop();
  return latencies.sort((a, b) => a - b);
}

async function paced(broker: Broker, topic: string, perSec: number, count: number): Promise<void> {
  const events = publisher(broker, { source: '/bench' });
  const interval = 1_000 / perSec;
  const start = performance.now();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    else if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    inflight.push(events.publish(topic, body()));
  }
  await Promise.all(inflight);
}

/** Runs the consumer in a child process; returns its latencies and the consume rate it saw. */
async function crossProcess(
  path: string,
  topic: string,
  count: number,
  drive: (broker: Broker) => Promise<void>,
  durableSettlements = true,
): Promise<{ latencies: number[]; msgPerSec: number }> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=@meshkit/source',
      join(import.meta.dirname, 'messaging-child.ts'),
      JSON.stringify({ path, topic, group: `${topic}-x`, expect: count, durableSettlements }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  const ready = new Promise<void>((resolve) =>
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) resolve();
    }),
  );
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await ready;
  const broker = sqliteBroker({ path });
  await drive(broker);
  await exited;
  await broker.close();
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error('the consumer process reported nothing');
  const report = JSON.parse(line) as { latencies: number[]; firstAt: number; lastAt: number };
  return {
    latencies: report.latencies.sort((a, b) => a - b),
    msgPerSec: (count / (report.lastAt - report.firstAt)) * 1_000,
  };
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meshkit-bench-'));
  const rows: Row[] = [];
  const add = (name: string, msgPerSec: number, latencies?: number[]): void => {
    const row: Row = {
      name,
      msgPerSec: Math.round(msgPerSec),
      p50Ms: latencies === undefined ? null : Number(percentile(latencies, 50).toFixed(3)),
      p99Ms: latencies === undefined ? null : Number(percentile(latencies, 99).toFixed(3)),
    };
    rows.push(row);
    if (json) console.log(JSON.stringify(row));
  };
  try {
    const brokers: [string, () => Broker][] = [
      ['sqlite', () => sqliteBroker({ path: join(dir, `b-${rows.length}.db`) })],
      ['memory', () => memoryBroker()],
    ];
    for (const [name, make] of brokers) {
      let broker = make();
      // The publish rate needs a bound group, or the memory broker would discard everything.
      const sink = await consume(broker, {
        group: 'sink',
        topics: ['bench.publish'],
        handler: async () => {},
      });
      await sink.stop();
      add(`${name} publish (confirmed, batched)`, await publishAll(broker, 'bench.publish', bulk));
      await broker.close();
      broker = make();
      add(`${name} consume (ack, 1 group)`, await consumeBacklog(broker, 'bench.consume1', bulk, 1));
      add(
        `${name} consume (ack, per group of 2)`,
        await consumeBacklog(broker, 'bench.consume2', bulk / 2, 2),
      );
      const lat = await latencyAt(broker, 'bench.latency', 1_000, rateMessages);
      add(`${name} latency @1000 msg/s`, 1_000, lat);
      await broker.close();
    }
    const xpath = join(dir, 'xproc.db');
    const paced1k = await crossProcess(xpath, 'bench.xlat', rateMessages, (b) =>
      paced(b, 'bench.xlat', 1_000, rateMessages),
    );
    add('sqlite latency @1000 msg/s (consumer in another process)', 1_000, paced1k.latencies);
    // Durable acks are synced off the consumer's event loop; without them any cost left of that shows.
    const relaxed = await crossProcess(
      xpath,
      'bench.xlat2',
      rateMessages,
      (b) => paced(b, 'bench.xlat2', 1_000, rateMessages),
      false,
    );
    add('sqlite latency @1000 msg/s (other process, durableSettlements=false)', 1_000, relaxed.latencies);
    const idle = await crossProcess(xpath, 'bench.xidle', idleMessages, (b) =>
      paced(b, 'bench.xidle', 20, idleMessages),
    );
    add('sqlite wake-up latency @20 msg/s (idle consumer in another process)', 20, idle.latencies);
    const flood = await crossProcess(xpath, 'bench.xflood', bulk, async (b) => {
      await publishAll(b, 'bench.xflood', bulk);
    });
    add('sqlite publish+consume (consumer in another process)', flood.msgPerSec, flood.latencies);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (!json) {
    console.log(
      '\nmessaging: 200-byte JSON events; sqlite = WAL + synchronous=FULL (nothing confirmed before on disk)',
    );
    console.table(
      rows.map((r) => ({
        scenario: r.name,
        'msg/s': r.msgPerSec.toLocaleString('en-US'),
        'p50 ms': r.p50Ms ?? '',
        'p99 ms': r.p99Ms ?? '',
      })),
    );
  }
}
