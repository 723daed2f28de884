import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { httpServer } from './node-server.ts';
import { redisIdempotencyStore } from './redis-idempotency.ts';

// Redis must be reachable: under CI a missing server fails these tests, it never skips them.
const url = process.env.MESHKIT_REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 5_000, lazyConnect: true });
const keyPrefix = `meshkit-test:${randomUUID()}:`;
const response = {
  status: 201,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from('{"id":1}'),
};

before(async () => {
  await redis.connect();
  assert.equal(await redis.ping(), 'PONG');
});
after(async () => {
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('redis idempotency store', () => {
  it('claims once, reports in-progress and mismatch, then replays the completed response', async () => {
    const store = redisIdempotencyStore({ redis, keyPrefix });
    assert.deepEqual(await store.claim('k', 'f1'), { kind: 'new' });
    assert.deepEqual(await store.claim('k', 'f1'), { kind: 'in-progress' });
    assert.deepEqual(await store.claim('k', 'f2'), { kind: 'mismatch' });
    await store.complete('k', 'f1', response);
    const replay = await store.claim('k', 'f1');
    assert.ok(replay.kind === 'replay');
    assert.equal(replay.response.status, 201);
    assert.deepEqual(replay.response.headers, response.headers);
    assert.equal(replay.response.body.toString(), '{"id":1}');
    assert.deepEqual(await store.claim('k', 'f2'), { kind: 'mismatch' });
  });

  it('releases a failed claim, and lets a lapsed claim be taken again (Redis TTL)', async () => {
    const store = redisIdempotencyStore({ redis, keyPrefix, inProgressTtlMs: 50 });
    await store.claim('r', 'f');
    await store.release('r');
    assert.deepEqual(await store.claim('r', 'f'), { kind: 'new' });
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.deepEqual(await store.claim('r', 'f'), { kind: 'new' });
    // Releasing after completion keeps the stored response.
    await store.complete('r', 'f', response);
    await store.release('r');
    assert.equal((await store.claim('r', 'f')).kind, 'replay');
  });

  it('is shared by two server instances: the second replays what the first did', async () => {
    let performed = 0;
    const make = () =>
      httpServer({
        service: 'orders',
        shutdown: { signals: false, exit: false },
        idempotency: { store: redisIdempotencyStore({ redis, keyPrefix }) },
        handler: () => {
          performed++;
          return { status: 201, body: { order: performed } };
        },
      });
    const a = make();
    const b = make();
    const [pa, pb] = [(await a.listen()).port, (await b.listen()).port];
    try {
      const post = (port: number) =>
        fetch(`http://127.0.0.1:${port}/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': 'shared-1' },
          body: '{"sku":"a"}',
        });
      const first = await post(pa);
      const second = await post(pb);
      assert.deepEqual(await second.json(), await first.json());
      assert.equal(second.headers.get('idempotent-replayed'), 'true');
      assert.equal(performed, 1);
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });

  it('validates its options', () => {
    assert.throws(
      () => redisIdempotencyStore({ redis: {} as never }),
      /redisIdempotencyStore.redis must be a Redis client/,
    );
    assert.throws(
      () => redisIdempotencyStore({ redis, ttlMs: 0 }),
      /redisIdempotencyStore.ttlMs must be an integer >= 1/,
    );
  });
});
