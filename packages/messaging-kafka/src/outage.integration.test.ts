import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { after, describe, it } from 'node:test';
import { createContext, ErrorCode, isMeshError } from '@meshkit/core';
import { consume, type Message, publisher } from '@meshkit/messaging';
import type { KafkaReopenEvent } from './channels.ts';
import { type KafkaBroker, kafkaBroker } from './kafka-broker.ts';
import { alive, brokerPid, restartBroker, socketsToBroker } from './test-support/broker-process.ts';
import { bootstrap } from './test-support/stock-client.ts';

// A broker away for longer than the client's retry window (60 × 500 ms): the subscription reopens by
// itself. Kills the broker this checkout started (scripts/services/up-kafka.sh); fails without one.
const open: KafkaBroker[] = [];
after(async () => {
  for (const b of open) await b.close().catch(() => {});
  // After a broker restart (and in the outage file, a consumer lost and reopened) no client socket may
  // outlive close(): one did, and kept the test process alive.
  // A connect the client had in flight toward a broker still starting ends by its own timeout.
  for (let i = 0; i < 100 && socketsToBroker().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(socketsToBroker(), [], 'no socket to the broker is left after close()');
});
const fresh = (): string => randomUUID().slice(0, 8);

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('kafka broker outage longer than the client retry window', () => {
  it('the consumer reopens, rejoins and resumes from its committed offsets; publishes meanwhile fail clearly', async () => {
    const pid = brokerPid();
    const broker = kafkaBroker({
      brokers: [bootstrap],
      sessionTimeoutMs: 6_000,
      reopenInitialDelayMs: 200,
      reopenMaxDelayMs: 2_000,
    });
    open.push(broker);
    const topic = `koutage.${fresh()}`;
    const group = `g-${fresh()}`;
    const reopen: KafkaReopenEvent[] = [];
    const onReopen = (event: unknown): void => {
      if ((event as KafkaReopenEvent).group === group) reopen.push(event as KafkaReopenEvent);
    };
    diagnostics.subscribe('meshkit:kafka:reopen', onReopen);
    const handled: { id: string; deliveryCount: number | undefined }[] = [];
    const consumer = await consume(broker, {
      group,
      topics: [topic],
      concurrency: 4,
      handler: async (msg: Message) => {
        handled.push({ id: msg.id, deliveryCount: msg.deliveryCount });
      },
    });
    const events = publisher(broker, { source: '/kafka-test' });
    let down = false;
    let outageMs = 0;
    try {
      // Committed before the outage: never handed out again afterwards.
      const early = (
        await events.publishBatch(
          Array.from({ length: 50 }, (_, i) => ({ topic, key: `k${i % 10}`, data: i })),
        )
      ).map((o) => o.id);
      await until(() => early.every((id) => handled.some((h) => h.id === id)), 30_000, 'the early records');
      const lag = async (): Promise<number> =>
        Object.values(await broker.lag(group, [topic])).reduce((a, b) => a + b, 0);
      const deadline = Date.now() + 30_000;
      while ((await lag()) !== 0) {
        assert.ok(Date.now() < deadline, 'the early records were committed');
        await new Promise((r) => setTimeout(r, 100));
      }
      // Published right before the kill: some may be handled and not committed yet.
      const late = (
        await events.publishBatch(
          Array.from({ length: 50 }, (_, i) => ({ topic, key: `k${i % 10}`, data: 100 + i })),
        )
      ).map((o) => o.id);

      process.kill(pid, 'SIGKILL');
      down = true;
      await until(() => !alive(pid), 30_000, 'the broker process to end');
      const downAt = Date.now();

      // During the outage: a publish with a deadline is answered by it; one without fails once the
      // client's retries run out, retryable. (Separate batches: a batch is answered as a whole.)
      const bounded = events
        .publish(topic, 'bounded', { key: 'k0' }, createContext({ timeoutMs: 3_000 }))
        .then(
          () => 'published',
          (error: unknown) => error,
        );
      const boundedOutcome = await bounded;
      assert.ok(
        isMeshError(boundedOutcome) && boundedOutcome.code === ErrorCode.DEADLINE_EXCEEDED,
        `a publish with a 3 s deadline fails with DEADLINE_EXCEEDED (${String(boundedOutcome)})`,
      );
      assert.ok(Date.now() - downAt < 10_000, 'it was answered by its deadline, not by the client retries');
      const unbounded = events.publish(topic, 'unbounded', { key: 'k0' }).then(
        () => 'published',
        (error: unknown) => error,
      );
      const unboundedOutcome = await unbounded;
      assert.ok(
        isMeshError(unboundedOutcome) &&
          unboundedOutcome.code === ErrorCode.CONNECTION_RESET &&
          unboundedOutcome.retryable,
        `a publish without a deadline fails retryable after the client retries (${String(unboundedOutcome)})`,
      );

      await until(
        () => reopen.some((e) => e.state === 'lost'),
        150_000,
        'the consumer to report it was lost',
      );
      await until(() => Date.now() - downAt > 35_000, 40_000, 'an outage longer than the retry window');
      assert.ok(
        reopen.some((e) => e.state === 'reopen-scheduled'),
        'a reopen was scheduled while the broker was away',
      );
      assert.ok(!reopen.some((e) => e.state === 'reopened'), 'nothing reopened without a broker');

      await restartBroker();
      down = false;
      outageMs = Date.now() - downAt;
      await until(() => reopen.some((e) => e.state === 'reopened'), 90_000, 'the consumer to reopen');
      const afterwards = (
        await events.publishBatch(
          Array.from({ length: 50 }, (_, i) => ({ topic, key: `k${i % 10}`, data: 200 + i })),
        )
      ).map((o) => o.id);
      const expected = [...early, ...late, ...afterwards];
      await until(
        () => expected.every((id) => handled.some((h) => h.id === id)),
        60_000,
        'every acknowledged record after the broker came back',
      );
      await consumer.stop();

      const times = (id: string): number => handled.filter((h) => h.id === id).length;
      assert.deepEqual(
        early.filter((id) => times(id) !== 1),
        [],
        'records committed before the outage were not handed out again',
      );
      assert.deepEqual(
        afterwards.filter((id) => times(id) !== 1),
        [],
      );
      for (const id of late) {
        const counts = handled.filter((h) => h.id === id).map((h) => h.deliveryCount);
        // A record handed out before the kill and again after the reopen says so.
        if (counts.length > 1) assert.ok((counts.at(-1) ?? 0) >= 2, `${id}: ${counts.join(',')}`);
      }
      const firstDeliveries = handled.filter((h) => afterwards.includes(h.id));
      assert.ok(
        firstDeliveries.every((h) => h.deliveryCount === 1 || h.deliveryCount === undefined),
        'a record delivered once never reports more',
      );
      const redelivered = late.filter((id) => times(id) > 1).length;
      console.log(
        `broker outage ${Math.round(outageMs / 1000)} s: ${reopen.filter((e) => e.state === 'reopen-scheduled').length} reopen attempts, ${redelivered} of ${late.length} late records redelivered`,
      );
    } finally {
      diagnostics.unsubscribe('meshkit:kafka:reopen', onReopen);
      if (down) {
        // Leave a broker behind for the other suites even when an assertion failed mid-outage.
        await restartBroker().catch(() => {});
      }
    }
  });
});
