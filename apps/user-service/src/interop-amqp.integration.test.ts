import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { consume, headerNames, type Message } from '@meshkit/messaging';
import {
  type InteropService,
  lostAnswerProxy,
  type SeedPython,
  seedPython,
  startInteropService,
} from './test-support/interop.ts';

// The seed's Python clients (apps/user-service/interop/seed_*.py, copied unchanged from the seed) against
// the user service on RabbitMQ. RabbitMQ on 127.0.0.1:5672 and Debian's python3-requests, -grpcio,
// -grpc-tools and -pika must be there: if not, these tests fail.

interface RestUser {
  id: string;
  email: string;
  name: string;
  status: string;
  created_at: number;
  updated_at: number;
}
interface GrpcUser {
  id: string;
  email: string;
  name: string;
  created_at: number;
  status: string;
}
interface Page<U> {
  users: U[];
  next_page_token: string;
}

let running: InteropService;
let py: SeedPython;
before(async () => {
  py = await seedPython();
  running = await startInteropService('amqp');
});
after(async () => {
  await running?.close();
  py?.close();
});

describe("the seed's APIClient (requests) against the REST API", () => {
  it('creates, replays by Idempotency-Key, gets and lists users; errors come back as HTTPError', async () => {
    const r = await py.run<{
      created: RestUser;
      replayed: RestUser;
      other_body_same_key: number;
      duplicate_email: number;
      invalid_email: number;
      got: RestUser;
      second: RestUser;
      first_page: Page<RestUser>;
      next_page: Page<RestUser>;
      put: number;
      delete: string;
      after_delete: number;
    }>('rest', [running.service.http.url]);
    assert.match(r.created.email, /^rest-[0-9a-f]{10}@example\.com$/);
    assert.equal(r.created.name, 'Ada Lovelace');
    assert.equal(r.created.status, 'ACTIVE');
    // The client's headers reach the service: the same key and body replay the first answer.
    assert.deepEqual(r.replayed, r.created);
    assert.equal(r.other_body_same_key, 409);
    assert.equal(r.duplicate_email, 409);
    assert.equal(r.invalid_email, 400);
    assert.deepEqual(r.got, r.created);
    assert.deepEqual(
      r.first_page.users.map((u) => u.id),
      [r.created.id],
    );
    assert.notEqual(r.first_page.next_page_token, '');
    assert.deepEqual(
      r.next_page.users.map((u) => u.id),
      [r.second.id],
    );
    // The seed's put() has no route here (changes are PATCH), and its delete() parses a body the 204 lacks:
    // the user is gone all the same.
    assert.equal(r.put, 405);
    assert.equal(r.delete, 'JSONDecodeError');
    assert.equal(r.after_delete, 404);
    await assert.rejects(running.service.users.get(r.second.id), { kind: 'not-found' });
    assert.equal((await running.service.users.get(r.created.id)).name, 'Ada Lovelace');
  });

  it('retries a POST whose answer was lost (503); the Idempotency-Key makes it one user', async () => {
    const proxy = await lostAnswerProxy(running.service.http.url);
    try {
      const key = randomUUID();
      const r = await py.run<{ created: RestUser; email: string }>('rest-create', [proxy.url, key]);
      assert.equal(r.created.email, r.email);
      assert.deepEqual(
        proxy.requests.map((q) => [q.method, q.path, q.idempotencyKey, q.upstreamStatus, q.sentStatus]),
        [
          ['POST', '/users', key, 201, 503],
          ['POST', '/users', key, 201, 201],
        ],
      );
      const same = (await running.service.users.list({ pageSize: 200 })).users.filter(
        (u) => u.email === r.email,
      );
      assert.deepEqual(
        same.map((u) => u.id),
        [r.created.id],
      );
    } finally {
      await proxy.close();
    }
  });
});

describe("the seed's GrpcUserClient (grpcio, stubs generated from the seed's proto)", () => {
  it('creates, gets and lists users over an insecure channel; NOT_FOUND is None, errors keep their codes', async () => {
    const before = (await running.service.users.list({ pageSize: 200 })).users.length;
    const r = await py.run<{
      created: GrpcUser[];
      got: GrpcUser;
      unknown: GrpcUser | null;
      first_page: Page<GrpcUser>;
      second_page: Page<GrpcUser>;
      errors: Record<string, string | null>;
    }>('grpc', [running.service.grpc.host, String(running.service.grpc.port)]);
    assert.equal(r.created.length, 3);
    for (const u of r.created) {
      assert.equal(u.status, 'ACTIVE');
      assert.ok(u.created_at > 1_700_000_000_000, 'created_at in epoch milliseconds');
    }
    assert.deepEqual(r.got, r.created[0]);
    assert.equal(r.unknown, null);
    const stored = await running.service.users.get(r.created[1]!.id);
    assert.equal(stored.email, r.created[1]!.email);
    // Pages of two walk every user in id order.
    const all = (await running.service.users.list({ pageSize: 200 })).users;
    assert.equal(all.length, before + 3);
    assert.deepEqual(
      [...r.first_page.users, ...r.second_page.users].map((u) => u.id),
      all.slice(0, 4).map((u) => u.id),
    );
    assert.notEqual(r.first_page.next_page_token, '');
    assert.deepEqual(r.errors, {
      duplicate_email: 'ALREADY_EXISTS',
      invalid_email: 'INVALID_ARGUMENT',
      empty_name: 'INVALID_ARGUMENT',
    });
  });
});

describe("the seed's pika MessageConsumer and MessageProducer on the events exchange", () => {
  it('a user created through the REST API arrives at MessageConsumer bound with user.*, id = user id', async () => {
    const queue = `user_events.interop.${randomUUID().slice(0, 8)}`;
    const r = await py.run<{
      user: RestUser;
      received: Record<string, unknown>[];
      timed_out: boolean;
    }>('amqp-consume', [running.service.http.url, queue]);
    assert.equal(r.timed_out, false);
    assert.equal(r.received.length, 1);
    const [message] = r.received;
    assert.deepEqual(message, {
      id: r.user.id,
      user_id: r.user.id,
      type: 'USER_CREATED',
      email: r.user.email,
      name: r.user.name,
      status: 'ACTIVE',
      timestamp: r.user.created_at,
    });
  });

  it('a user.created message from MessageProducer reaches a meshkit consumer as a CloudEvent', async () => {
    const group = `user-service-interop.pika.${randomUUID().slice(0, 8)}`;
    const handled: Message[] = [];
    const consumer = await consume(running.broker, {
      group,
      patterns: ['user.created'],
      handler: async (msg) => {
        handled.push(msg);
      },
    });
    try {
      const id = `user-${randomUUID().slice(0, 8)}`;
      const r = await py.run<{
        sent: { id: string; email: string; timestamp: number };
        seed_defects: string[];
      }>('amqp-publish', [id]);
      assert.deepEqual(r.seed_defects, ['MessageProducer.publish uses time without importing it']);
      await waitFor(() => handled.some((m) => m.id === id));
      const msg = handled.find((m) => m.id === id)!;
      // No CloudEvents headers: id from message_id, type from the routing key, source from the exchange,
      // time from the seed's millisecond timestamp.
      assert.equal(msg.topic, 'user.created');
      assert.equal(msg.type, 'user.created');
      assert.equal(msg.source, '/amqp/events');
      assert.equal(msg.time, new Date(r.sent.timestamp).toISOString());
      assert.deepEqual(msg.data, r.sent);
    } finally {
      await consumer.stop();
      await running.broker.deleteGroup?.(group);
    }
  });
});

describe("the seed's MessageProducer without an id", () => {
  it('sends no message_id: the meshkit consumer cannot deduplicate it and dead-letters it as undecodable', async () => {
    const group = `user-service-interop.pika-no-id.${randomUUID().slice(0, 8)}`;
    let calls = 0;
    const consumer = await consume(running.broker, {
      group,
      patterns: ['user.created'],
      handler: async () => {
        calls++;
      },
    });
    try {
      const r = await py.run<{ sent: { email: string } }>('amqp-publish', ['-']);
      const dead: { body: string; message_id: string | null; headers: Record<string, string> }[] = [];
      await waitForAsync(async () => {
        dead.push(...(await py.run<{ messages: typeof dead }>('amqp-get', [`${group}.dlq`])).messages);
        return dead.length > 0;
      });
      assert.equal(dead.length, 1);
      assert.deepEqual(JSON.parse(dead[0]!.body), r.sent);
      assert.equal(dead[0]!.message_id, null);
      assert.equal(dead[0]!.headers[headerNames.deadLetterReason], 'undecodable');
      assert.equal(calls, 0);
    } finally {
      await consumer.stop();
      await running.broker.deleteGroup?.(group);
    }
  });
});

/** Polls every 500 ms until `check` holds; fails after 30 s (a bound, not a timing assertion). */
async function waitForAsync(check: () => Promise<boolean>): Promise<void> {
  const giveUp = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > giveUp) throw new Error('timed out after 30 s');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Polls every 10 ms until `check` holds; fails after 30 s (a bound, not a timing assertion). */
async function waitFor(check: () => boolean): Promise<void> {
  const giveUp = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > giveUp) throw new Error('timed out after 30 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
