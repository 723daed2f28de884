import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { consume, type Message } from '@meshkit/messaging';
import {
  type InteropService,
  type SeedPython,
  seedPython,
  startInteropService,
} from './test-support/interop.ts';

// The seed's kafka-python clients (apps/user-service/interop/seed_kafka_*.py, copied unchanged from the
// seed) against the user service on Kafka with every event on `user-events`. Kafka on 127.0.0.1:9092
// (scripts/services/up-kafka.sh) and Debian's python3-kafka, -lz4, -requests, -grpcio and -grpc-tools
// must be there: if not, these tests fail.

interface RestUser {
  id: string;
  email: string;
  name: string;
  status: string;
  created_at: number;
}

let running: InteropService;
let py: SeedPython;
// The Kafka adapter deletes no groups: the ones these tests made are deleted once their members left.
const groups: string[] = [];
before(async () => {
  py = await seedPython();
  running = await startInteropService('kafka');
  groups.push(running.streamGroup);
});
after(async () => {
  await running?.close();
  if (groups.length > 0) {
    const r = await py.run<{ deleted: Record<string, string> }>('kafka-delete-groups', groups);
    assert.deepEqual(
      Object.values(r.deleted),
      groups.map(() => 'NoError'),
    );
  }
  py?.close();
});

describe("the seed's KafkaMessageConsumer and KafkaMessageProducer on user-events", () => {
  it('a user created through the REST API arrives at KafkaMessageConsumer, keyed by the user id', async () => {
    const group = `user-service-interop.python.${randomUUID().slice(0, 8)}`;
    const r = await py.run<{
      user: RestUser;
      received: { topic: string; partition: number; key: string; value: unknown; headers: string[] } | null;
      seed_defects: string[];
    }>('kafka-consume', [running.service.http.url, group]);
    assert.deepEqual(r.seed_defects, ['KafkaMessageConsumer uses json without importing it']);
    assert.ok(r.received !== null);
    assert.equal(r.received.topic, 'user-events');
    assert.equal(r.received.key, r.user.id);
    assert.deepEqual(r.received.value, {
      id: r.user.id,
      user_id: r.user.id,
      type: 'USER_CREATED',
      email: r.user.email,
      name: r.user.name,
      status: 'ACTIVE',
      timestamp: r.user.created_at,
    });
    // The CloudEvents attributes ride in headers, which the seed's consumer never needs to read.
    for (const name of ['ce_id', 'ce_source', 'ce_specversion', 'ce_type']) {
      assert.ok(r.received.headers.includes(name), name);
    }
    // The seed's producer puts the same key on the same partition (both hash keys with murmur2).
    const p = await py.run<{ metadata: { partition: number } }>('kafka-produce', [r.user.id]);
    assert.equal(p.metadata.partition, r.received.partition);
  });

  it('a record from KafkaMessageProducer (lz4, no headers) reaches a meshkit consumer, wrapped', async () => {
    const handled: Message[] = [];
    const group = `user-service-interop.meshkit.${randomUUID().slice(0, 8)}`;
    groups.push(group);
    const consumer = await consume(running.broker, {
      group,
      topics: ['user-events'],
      handler: async (msg) => {
        handled.push(msg);
      },
    });
    try {
      const key = `user-${randomUUID().slice(0, 8)}`;
      const r = await py.run<{
        sent: Record<string, unknown>;
        metadata: { topic: string; partition: number; offset: number };
      }>('kafka-produce', [key]);
      await waitFor(() => handled.some((m) => m.key === key));
      const msg = handled.find((m) => m.key === key)!;
      // No CloudEvents headers: attributes derived from the record (plainRecords: 'wrap').
      assert.equal(msg.id, `user-events-${r.metadata.partition}-${r.metadata.offset}`);
      assert.equal(msg.topic, 'user-events');
      assert.equal(msg.type, 'user-events');
      assert.equal(msg.source, '/kafka/user-events');
      assert.deepEqual(msg.data, r.sent);
    } finally {
      await consumer.stop();
    }
  });
});

/** Polls every 10 ms until `check` holds; fails after 60 s (a bound, not a timing assertion). */
async function waitFor(check: () => boolean): Promise<void> {
  const giveUp = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > giveUp) throw new Error('timed out after 60 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
