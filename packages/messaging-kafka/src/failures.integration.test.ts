import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { constantBackoff } from '@meshkit/core';
import { consume, type Delivery, headerNames, type Message, publisher } from '@meshkit/messaging';
import { type KafkaBroker, kafkaBroker } from './kafka-broker.ts';
import { alive, brokerPid, restartBroker, socketsToBroker } from './test-support/broker-process.ts';
import { bootstrap } from './test-support/stock-client.ts';

// Failure paths on a real broker (scripts/services/up-kafka.sh); a missing broker fails, never skips.
const open: KafkaBroker[] = [];
const connect = (options: { sessionTimeoutMs?: number; topicRefreshMs?: number } = {}): KafkaBroker => {
  const b = kafkaBroker({ brokers: [bootstrap], ...options });
  open.push(b);
  return b;
};
after(async () => {
  for (const b of open) await b.close().catch(() => {});
  // After a broker restart (and in the outage file, a consumer lost and reopened) no client socket may
  // outlive close(): one did, and kept the test process alive.
  // A connect the client had in flight toward a broker still starting ends by its own timeout.
  for (let i = 0; i < 100 && socketsToBroker().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(socketsToBroker(), [], 'no socket to the broker is left after close()');
});
const fresh = (): string => randomUUID().slice(0, 8);

/** Resolves when `check()` holds, polling every 20 ms; fails after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Per key, the order in which `seen` handled the values; asserts it is the publish order. */
function assertKeyOrder(order: Map<string, number[]>, per: number): void {
  for (const [key, got] of order) {
    assert.deepEqual(
      got,
      Array.from({ length: per }, (_, i) => i),
      `order of ${key}`,
    );
  }
}

describe('kafka failure paths', () => {
  it('per-key order holds with 2,000 publishes in flight at once', async () => {
    const broker = connect();
    const topic = `kfail.${fresh()}`;
    const keys = 20;
    const per = 100;
    const order = new Map<string, number[]>();
    let done = 0;
    const consumer = await consume(broker, {
      group: `g-${fresh()}`,
      topics: [topic],
      concurrency: 8,
      handler: async (msg: Message) => {
        const { k, i } = msg.data as { k: string; i: number };
        order.set(k, [...(order.get(k) ?? []), i]);
        done++;
      },
    });
    const events = publisher(broker, { source: '/kafka-test' });
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < per; i++) {
      for (let k = 0; k < keys; k++) sends.push(events.publish(topic, { k: `k${k}`, i }, { key: `k${k}` }));
    }
    await Promise.all(sends);
    await until(() => done >= keys * per, 30_000, 'every message');
    await consumer.stop();
    assert.equal(done, keys * per);
    assertKeyOrder(order, per);
  });

  it('a poison record does not hold its partition: later records of its key pass while it retries, then it goes to <topic>.dlq', async () => {
    const broker = connect();
    const topic = `kfail.${fresh()}`;
    const dlq = `${topic}.dlq`;
    const dead: Delivery[] = [];
    await broker.subscribe({
      group: `dlq-${fresh()}`,
      patterns: [dlq],
      prefetch: 10,
      onDelivery: (d) => {
        dead.push(d);
        void d.ack();
      },
    });
    const events: string[] = [];
    const consumer = await consume(broker, {
      group: `g-${fresh()}`,
      topics: [topic],
      retry: { maxAttempts: 3, backoff: constantBackoff(300) },
      deadLetter: { topic: dlq },
      handler: async (msg: Message) => {
        if (msg.data === 'poison') {
          events.push(`poison#${msg.attempt}`);
          throw new Error('cannot handle poison');
        }
        events.push(String(msg.data));
      },
    });
    const p = publisher(broker, { source: '/kafka-test' });
    await p.publish(topic, 'poison', { key: 'user-1' });
    await p.publishBatch(Array.from({ length: 20 }, (_, i) => ({ topic, key: 'user-1', data: `ok-${i}` })));
    await until(() => dead.length === 1, 30_000, 'the dead letter');
    await consumer.stop();
    assert.deepEqual(
      events.filter((e) => e.startsWith('poison')),
      ['poison#1', 'poison#2', 'poison#3'],
    );
    assert.equal(events.filter((e) => e.startsWith('ok-')).length, 20);
    assert.ok(
      events.indexOf('ok-0') < events.indexOf('poison#2'),
      'the partition moved on during the retry delay',
    );
    const h = dead[0]!.headers;
    assert.equal(h[headerNames.error], 'cannot handle poison');
    assert.equal(h[headerNames.deadLetterAttempts], '3');
    assert.equal(h[headerNames.attempt], '1', 'a dead-letter consumer starts at attempt 1');
    assert.equal(h[headerNames.originalTopic], topic);
    assert.equal(dead[0]!.key, 'user-1');
  });

  it('a second member joining and leaving mid-stream loses nothing and keeps per-key order', async () => {
    const [first, second] = [connect(), connect()];
    const topic = `kfail.${fresh()}`;
    const group = `g-${fresh()}`;
    const keys = 30;
    const per = 100;
    const order = new Map<string, number[]>();
    const running = new Set<string>();
    let overlaps = 0;
    let done = 0;
    let bySecond = 0;
    const handler = async (msg: Message) => {
      const { k, i } = msg.data as { k: string; i: number };
      if (running.has(k)) overlaps++;
      running.add(k);
      await new Promise((r) => setTimeout(r, 5));
      order.set(k, [...(order.get(k) ?? []), i]);
      running.delete(k);
      done++;
    };
    const a = await consume(first, { group, topics: [topic], concurrency: 4, prefetch: 40, handler });
    const events = publisher(first, { source: '/kafka-test' });
    await events.publishBatch(
      Array.from({ length: keys * per }, (_, n) => ({
        topic,
        key: `k${n % keys}`,
        data: { k: `k${n % keys}`, i: Math.floor(n / keys) },
      })),
    );
    await until(() => done >= 100, 30_000, 'the first member to start');
    const b = await consume(second, {
      group,
      topics: [topic],
      concurrency: 4,
      prefetch: 40,
      handler: async (msg: Message) => {
        await handler(msg);
        bySecond++;
      },
    });
    await until(() => bySecond >= 200, 30_000, 'the second member to take a share');
    await b.stop();
    await until(() => done >= keys * per, 30_000, 'the rest after the second member left');
    await a.stop();
    assert.ok(bySecond > 0, `the second member took partitions (${bySecond})`);
    assert.equal(overlaps, 0, 'a key never ran at two members at once');
    assert.equal(done, keys * per, 'nothing lost, nothing handled twice');
    assertKeyOrder(order, per);
  });

  it('a consumer process killed -9 mid-batch: its uncommitted records go to the group', async () => {
    const topic = `kfail.${fresh()}`;
    const group = `g-${fresh()}`;
    const script = join(import.meta.dirname, 'test-support', 'doomed-member.ts');
    const child = spawn(process.execPath, ['--conditions=@meshkit/source', script, group, topic, '100'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const handledByChild = new Set<string>();
    let ready = false;
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (buffer + chunk.toString()).split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'ready') ready = true;
        else if (line.startsWith('handled ')) handledByChild.add(line.slice(8));
      }
    });
    try {
      await until(() => ready, 30_000, 'the child to join');
      const broker = connect({ sessionTimeoutMs: 6_000 });
      const outcomes = await publisher(broker, { source: '/kafka-test' }).publishBatch(
        Array.from({ length: 500 }, (_, i) => ({ topic, key: `k${i % 50}`, data: i })),
      );
      await until(() => handledByChild.size >= 100, 30_000, 'the child to handle 100');
      child.kill('SIGKILL');
      const seen = new Set<string>();
      const survivor = await consume(broker, {
        group,
        topics: [topic],
        concurrency: 4,
        handler: async (msg) => {
          seen.add(msg.id);
        },
      });
      const published = outcomes.map((o) => o.id);
      await until(
        () => published.every((id) => seen.has(id) || handledByChild.has(id)),
        40_000,
        'every record handled by someone',
      );
      await survivor.stop();
      const notByChild = published.filter((id) => !handledByChild.has(id));
      assert.ok(
        notByChild.every((id) => seen.has(id)),
        'what the child took and never finished was redelivered',
      );
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('commits contiguously: records acked above an unsettled one stay uncommitted until it settles', async () => {
    const broker = connect();
    const topic = `kfail.${fresh()}`;
    const group = `g-${fresh()}`;
    const got: Delivery[] = [];
    const sub = await broker.subscribe({
      group,
      patterns: [topic],
      prefetch: 100,
      onDelivery: (d) => {
        got.push(d);
      },
    });
    // One key: every record in one partition, in order.
    await publisher(broker, { source: '/kafka-test' }).publishBatch(
      Array.from({ length: 5 }, (_, i) => ({ topic, key: 'user-1', data: i })),
    );
    await until(() => got.length === 5, 30_000, 'five deliveries');
    const partition = got[0]!.position.split('/').slice(0, 2).join(':'); // topic/partition/offset
    const pending = async () => (await broker.lag(group, [topic]))[partition];
    await Promise.all(got.slice(1).map((d) => d.ack()));
    assert.equal(await pending(), 5, 'the first record is unsettled: nothing is committed past it');
    await got[0]!.ack();
    assert.equal(await pending(), 0, 'once it settles, everything up to the last is committed');
    await sub.close();
  });

  it('a wildcard subscription picks up a topic created mid-stream without losing or repeating records', async () => {
    const broker = connect({ topicRefreshMs: 300 });
    const base = `kpat.${fresh()}`;
    const events = publisher(broker, { source: '/kafka-test' });
    await events.publish(`${base}.first`, 'before'); // exists before the group: not delivered
    const handled: string[] = [];
    const consumer = await consume(broker, {
      group: `g-${fresh()}`,
      patterns: [`${base}.*`],
      concurrency: 4,
      prefetch: 50,
      handler: async (msg) => {
        await new Promise((r) => setTimeout(r, 3));
        handled.push(msg.id);
      },
    });
    const first = await events.publishBatch(
      Array.from({ length: 1_000 }, (_, i) => ({ topic: `${base}.first`, key: `k${i % 20}`, data: i })),
    );
    await until(() => handled.length >= 100, 30_000, 'consumption to start');
    const second = await events.publishBatch(
      Array.from({ length: 100 }, (_, i) => ({ topic: `${base}.second`, key: `k${i % 20}`, data: i })),
    );
    const published = [...first, ...second].map((o) => o.id);
    await until(() => published.every((id) => handled.includes(id)), 40_000, 'both topics');
    await consumer.stop();
    assert.equal(handled.length, published.length, 'no record handled twice across the rejoin');
    assert.deepEqual(new Set(handled), new Set(published));
  });

  it('reports consumer lag per partition: published minus committed', async () => {
    const broker = connect();
    const topic = `kfail.${fresh()}`;
    const group = `g-${fresh()}`;
    let handled = 0;
    const consumer = await consume(broker, {
      group,
      topics: [topic],
      handler: async () => {
        handled++;
      },
    });
    await consumer.stop();
    await publisher(broker, { source: '/kafka-test' }).publishBatch(
      Array.from({ length: 30 }, (_, i) => ({ topic, key: `k${i}`, data: i })),
    );
    const before = await broker.lag(group, [topic]);
    assert.equal(
      Object.values(before).reduce((a, b) => a + b, 0),
      30,
    );
    const again = await consume(broker, {
      group,
      topics: [topic],
      handler: async () => {
        handled++;
      },
    });
    await until(() => handled === 30, 30_000, 'the backlog');
    await again.stop();
    const afterwards = await broker.lag(group, [topic]);
    assert.deepEqual(
      Object.values(afterwards).filter((n) => n !== 0),
      [],
    );
  });

  it('a broker killed -9 and restarted during 20,000 records: every acknowledged record is consumed', async () => {
    const pid = brokerPid();
    const broker = connect();
    const topic = `kfail.${fresh()}`;
    const seen = new Set<string>();
    const consumer = await consume(broker, {
      group: `g-${fresh()}`,
      topics: [topic],
      concurrency: 8,
      prefetch: 500,
      handler: async (msg) => {
        seen.add(msg.id);
      },
    });
    const events = publisher(broker, { source: '/kafka-test' });
    const acknowledged: string[] = [];
    let failedBatches = 0;
    let restart: Promise<void> = Promise.resolve();
    for (let batch = 0; batch < 100; batch++) {
      if (batch === 25) {
        process.kill(pid, 'SIGKILL');
        restart = until(() => !alive(pid), 30_000, 'the broker process to end').then(restartBroker);
      }
      const outcomes = await events
        .publishBatch(
          Array.from({ length: 200 }, (_, i) => ({
            topic,
            key: `user-${(batch * 200 + i) % 1_000}`,
            data: { batch, i },
          })),
        )
        .catch(() => []);
      for (const o of outcomes) if (o.ok) acknowledged.push(o.id);
      if (outcomes.length === 0 || outcomes.some((o) => !o.ok)) failedBatches++;
    }
    await restart;
    await until(() => acknowledged.every((id) => seen.has(id)), 60_000, 'every acknowledged record');
    await consumer.stop();
    assert.ok(acknowledged.length >= 20_000 - failedBatches * 200);
    assert.ok(
      acknowledged.every((id) => seen.has(id)),
      'nothing acknowledged was lost',
    );
    console.log(`broker restart: ${acknowledged.length} acknowledged, ${failedBatches} batches failed`);
  });
});
