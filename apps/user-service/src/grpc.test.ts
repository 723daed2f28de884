import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  EventType,
  fieldViolations,
  type GrpcClient,
  GrpcStatusError,
  grpcClient,
  Status,
  type UserEvent,
  UserService,
  UserStatus,
} from '@meshkit/grpc';
import { publisher } from '@meshkit/messaging';
import type { UserEventData } from './events.ts';
import type { RunningUserService } from './service.ts';
import { eventually, type Host, testHost } from './test-support/harness.ts';

let host: Host;
let service: RunningUserService;
const clients: GrpcClient<typeof UserService>[] = [];
const client = (target = service): GrpcClient<typeof UserService> => {
  const c = grpcClient(UserService, {
    service: 'user-service-grpc',
    endpoints: [target.grpc.address],
    idempotentMethods: ['getUser', 'listUsers'],
  });
  clients.push(c);
  return c;
};
before(async () => {
  host = testHost();
  service = await host.start({ maxStreamBufferedEvents: 200 });
});
after(async () => {
  for (const c of clients) await c.$close();
  await host.cleanup();
});

let unique = 0;
const email = (tag: string) => `${tag}-${++unique}@example.com`;

async function status(promise: Promise<unknown>): Promise<GrpcStatusError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GrpcStatusError) return error;
    throw error;
  }
  assert.fail('expected a status error');
}

/** Reads a stream into `into` in the background; resolves with how it ended. */
function drain(stream: AsyncIterable<UserEvent>, into: UserEvent[]): Promise<unknown> {
  return (async () => {
    for await (const event of stream) into.push(event);
    return 'ended';
  })().catch((error: unknown) => error);
}

describe('gRPC UserService', () => {
  it('creates, gets and lists users; statuses map like REST', async () => {
    const users = client();
    const created = await users.createUser({ email: email('Grace').toUpperCase(), name: 'Grace' });
    assert.match(created.email, /^grace-\d+@example\.com$/);
    assert.equal(created.status, UserStatus.ACTIVE);
    assert.equal(typeof created.createdAt, 'bigint');
    const got = await users.getUser({ id: created.id });
    assert.equal(got.id, created.id);
    assert.equal(got.createdAt, created.createdAt);

    const bad = await status(users.createUser({ email: 'nope', name: 'X' }));
    assert.equal(bad.status, Status.INVALID_ARGUMENT);
    assert.deepEqual(
      fieldViolations(bad).map((v) => v.field),
      ['email'],
    );
    assert.equal(
      (await status(users.createUser({ email: created.email, name: 'X' }))).status,
      Status.ALREADY_EXISTS,
    );
    assert.equal((await status(users.getUser({ id: 'no-such-user' }))).status, Status.NOT_FOUND);
    assert.equal((await status(users.getUser({ id: '' }))).status, Status.INVALID_ARGUMENT);

    await users.createUser({ email: email('second'), name: 'Second' });
    const first = await users.listUsers({ pageSize: 1 });
    assert.equal(first.users.length, 1);
    assert.notEqual(first.nextPageToken, '');
    const next = await users.listUsers({ pageSize: 1, pageToken: first.nextPageToken });
    assert.notEqual(next.users[0]?.id, first.users[0]?.id);
    const tampered = await status(users.listUsers({ pageToken: `x${first.nextPageToken}` }));
    assert.equal(tampered.status, Status.INVALID_ARGUMENT);
    assert.deepEqual(
      fieldViolations(tampered).map((v) => v.field),
      ['page_token'],
    );
    assert.equal((await status(users.listUsers({ pageSize: -1 }))).status, Status.INVALID_ARGUMENT);
  });

  it('streams live events, all of them or one user’s, from every instance', async () => {
    const peer = await host.start();
    // The id is known before the user exists: a stream may follow a user from before its creation.
    const all: UserEvent[] = [];
    const abort = new AbortController();
    const allDone = drain(client(peer).streamUserEvents({}, { signal: abort.signal }), all);
    await eventually(() => peer.hub.followers === 1);
    const target = await service.users.create({ email: email('target'), name: 'Target' });
    await eventually(() => all.length === 1);
    const one: UserEvent[] = [];
    const oneDone = drain(client().streamUserEvents({ userId: target.id }, { signal: abort.signal }), one);
    await eventually(() => service.hub.followers === 1);

    // Changes made through the first instance reach the stream on the peer.
    const other = await service.users.create({ email: email('other'), name: 'Other' });
    await service.users.update(target.id, { name: 'Renamed' });
    await service.users.remove(target.id);
    await eventually(() => all.length >= 4 && one.length >= 2);
    assert.deepEqual(
      all.map((e) => [e.userId, e.type]),
      [
        [target.id, EventType.CREATED],
        [other.id, EventType.CREATED],
        [target.id, EventType.UPDATED],
        [target.id, EventType.DELETED],
      ],
    );
    assert.deepEqual(
      one.map((e) => [e.userId, e.type]),
      [
        [target.id, EventType.UPDATED],
        [target.id, EventType.DELETED],
      ],
    );
    assert.equal(all[1]?.timestamp, BigInt(other.createdAt));

    // Cancelling releases the subscriptions on both servers.
    abort.abort();
    await Promise.all([allDone, oneDone]);
    await eventually(() => peer.hub.followers === 0 && service.hub.followers === 0);
    await peer.close();
  });

  it('ends a stream that falls behind with RESOURCE_EXHAUSTED, without holding back the others', async (t) => {
    const total = 5_000;
    const fast: UserEvent[] = [];
    const abort = new AbortController();
    const fastDone = drain(client().streamUserEvents({}, { signal: abort.signal }), fast);
    t.after(() => abort.abort());
    let fastEnded = false;
    void fastDone.then(() => {
      fastEnded = true;
    });
    // The slow client reads one message and then nothing until the end.
    const slow = client().streamUserEvents({}, { signal: abort.signal })[Symbol.asyncIterator]();
    const firstSlow = slow.next();
    await eventually(() => service.hub.followers === 2);

    const events = publisher(host.broker, { source: '/test' });
    // Large enough that the socket buffers between server and client cannot absorb them all.
    const padding = 'x'.repeat(2_000);
    const data = (i: number): UserEventData => ({
      id: `bulk-${i}`,
      user_id: `bulk-${i}-${padding}`,
      type: 'USER_UPDATED',
      email: `bulk-${i}@example.com`,
      name: 'Bulk',
      status: 'ACTIVE',
      timestamp: Date.now(),
    });
    // Published in batches no larger than a stream's buffer, each once the fast reader has taken the
    // previous one: a reader that keeps up is never dropped, however far behind another one is.
    const batchSize = 100;
    for (let i = 0; i < total; i += batchSize) {
      const batch = Array.from({ length: batchSize }, (_, j) => ({
        topic: 'user.updated',
        data: data(i + j),
        key: `bulk-${i + j}`,
      }));
      const outcomes = await events.publishBatch(batch);
      assert.ok(outcomes.every((o) => o.ok));
      await eventually(() => fast.length === i + batchSize || fastEnded);
    }
    // The hub dropped the slow follower (its buffer is bounded); the fast one got everything.
    await eventually(() => fast.length === total);
    assert.equal(service.hub.followers, 1);
    assert.equal(fast.at(-1)?.userId, `bulk-${total - 1}-${padding}`);

    await firstSlow;
    let read = 1;
    const ended = await (async () => {
      for (;;) {
        const next = await slow.next();
        if (next.done === true) return 'ended';
        read++;
      }
    })().catch((error: unknown) => error);
    assert.ok(ended instanceof GrpcStatusError, String(ended));
    assert.equal(ended.status, Status.RESOURCE_EXHAUSTED);
    assert.ok(read < total, `the slow stream read ${read} of ${total}`);
    abort.abort();
    await fastDone;
  });

  it('ends live streams with UNAVAILABLE when the instance shuts down', async () => {
    const peer = await host.start();
    const got: UserEvent[] = [];
    const done = drain(client(peer).streamUserEvents({}), got);
    await eventually(() => peer.hub.followers === 1);
    await peer.close();
    const ended = await done;
    assert.ok(ended instanceof GrpcStatusError, String(ended));
    assert.equal(ended.status, Status.UNAVAILABLE);
    assert.equal(
      (await host.registry.lookup('user-service-grpc')).filter((i) => i.port === peer.grpc.port).length,
      0,
    );
  });
});
