import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { channels, ErrorCode, FakeClock, InvalidArgumentError, MeshError } from '@meshkit/core';
import { constantBackoff } from '@meshkit/policies';
import { z } from 'zod';
import { memoryIdempotencyStore } from '../server/idempotency.ts';
import { httpServer, type MeshServer } from '../server/node-server.ts';
import { lossyProxy } from '../test-support/proxy.ts';
import { httpClient } from './client.ts';

const noWait = { backoff: constantBackoff(0) };

async function serve(
  handler: Parameters<typeof httpServer>[0]['handler'],
  extra: Partial<Parameters<typeof httpServer>[0]> = {},
) {
  const server = httpServer({
    service: 'test',
    shutdown: { signals: false, exit: false },
    handler,
    ...extra,
  });
  const { port } = await server.listen();
  return { server, address: `127.0.0.1:${port}` };
}

function meshError(error: unknown, code: string): MeshError {
  assert.ok(error instanceof MeshError, `expected MeshError, got ${String(error)}`);
  assert.equal(error.code, code);
  return error;
}

describe('httpClient: requests and responses', () => {
  let server: MeshServer;
  let address: string;
  before(async () => {
    ({ server, address } = await serve(async (req) => {
      switch (req.path) {
        case '/users/42':
          return { body: { id: 42, name: 'Ada', q: req.query.get('expand') } };
        case '/echo':
          return {
            status: 201,
            headers: { 'content-type': req.headers['content-type'] ?? 'none' },
            body: req.body,
          };
        case '/bad-json':
          return { headers: { 'content-type': 'application/json' }, body: '{"id":' };
        case '/text':
          return { body: 'plain words' };
        case '/empty':
          return {};
        default:
          return { status: 404, body: { error: 'missing' } };
      }
    }));
  });
  after(() => server.shutdown());

  it('GETs JSON, with query parameters, validated by a zod schema', async () => {
    const client = httpClient({ service: 'users', endpoints: [address] });
    const User = z.object({ id: z.number(), name: z.string(), q: z.string() });
    const user = await client.get('/users/42', { query: { expand: 'all', skip: undefined }, schema: User });
    assert.deepEqual(user, { id: 42, name: 'Ada', q: 'all' });
    const wrong = await client
      .get('/users/42', { schema: z.object({ id: z.string() }) })
      .catch((e: unknown) => e);
    const error = meshError(wrong, ErrorCode.INVALID_PAYLOAD);
    assert.equal(error.details.field, 'id');
    await client.close();
  });

  it('encodes bodies: objects as JSON, strings as text, streams as they come', async () => {
    const client = httpClient({ service: 'echo', endpoints: [address] });
    assert.deepEqual(await client.post('/echo', { a: 1 }), { a: 1 });
    assert.equal(await client.put('/echo', 'hello'), 'hello');
    const streamed = await client.request({
      method: 'POST',
      path: '/echo',
      body: Readable.from([Buffer.from('ab'), Buffer.from('cd')]),
    });
    assert.equal(streamed.status, 201);
    assert.equal(streamed.headers['content-type'], 'application/octet-stream');
    const chunks: Buffer[] = [];
    for await (const chunk of streamed.body) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'abcd');
    assert.equal(await client.get('/text'), 'plain words');
    assert.equal(await client.delete('/empty'), undefined);
    await client.close();
  });

  it('raises ERR_INVALID_PAYLOAD for malformed JSON and ERR_HTTP_STATUS for 4xx', async () => {
    const client = httpClient({ service: 'x', endpoints: [address] });
    meshError(await client.get('/bad-json').catch((e: unknown) => e), ErrorCode.INVALID_PAYLOAD);
    const missing = meshError(await client.get('/nope').catch((e: unknown) => e), ErrorCode.HTTP_STATUS);
    assert.equal(missing.details.status, 404);
    assert.equal(missing.details.body, '{"error":"missing"}');
    assert.match(missing.message, /^GET \/nope → http:\/\/127\.0\.0\.1:\d+ answered 404$/);
    const streamed = meshError(
      await client.request({ method: 'DELETE', path: '/nope?secret=1' }).catch((e: unknown) => e),
      ErrorCode.HTTP_STATUS,
    );
    assert.match(
      streamed.message,
      /^DELETE \/nope → http:\/\/.* answered 404$/,
      'the query string is left out',
    );
    await client.close();
  });

  it('an invalid static endpoint fails at construction, naming the entry', () => {
    for (const address of ['not a url', 'http://localhost:99999', 'ftp://x:1']) {
      assert.throws(
        () => httpClient({ service: 's', endpoints: ['a:1', address] }),
        (e: unknown) => e instanceof InvalidArgumentError && e.field === 'httpClient.endpoints[1]',
        address,
      );
    }
    assert.throws(
      () => httpClient({ service: 's', endpoints: [{ id: 'x', address: 'bad host:1' }] }),
      (e: unknown) => e instanceof InvalidArgumentError && e.field === 'httpClient.endpoints[0]',
    );
  });

  it('validates options at construction, naming the field', () => {
    assert.throws(
      () => httpClient({ service: '', endpoints: ['a:1'] }),
      (e: unknown) => e instanceof InvalidArgumentError && e.field === 'httpClient.service',
    );
    assert.throws(() => httpClient({ service: 's' }), /httpClient.endpoints must be a non-empty array/);
    assert.throws(
      () => httpClient({ service: 's', endpoints: ['a:1'], policies: { deadlineMs: 0 } }),
      /httpClient.policies.deadlineMs must be >= 1/,
    );
    assert.throws(
      () => httpClient({ service: 's', endpoints: ['a:1'], transport: { connectTimeoutMs: -1 } }),
      /httpClient.transport.connectTimeoutMs/,
    );
    assert.throws(
      () => httpClient({ service: 's', endpoints: ['a:1'], policies: { retry: { maxAttempts: 0 } } }),
      /retry.maxAttempts must be an integer >= 1/,
    );
    assert.throws(
      () => httpClient({ service: 's', endpoints: ['a:1'], policies: { attemptTimeoutMs: 0 } }),
      /httpClient.policies.attemptTimeoutMs must be >= 1/,
    );
  });

  it('rejects bad call arguments, naming them, without throwing synchronously', async () => {
    const client = httpClient({ service: 's', endpoints: [address] });
    const relative = client.get('users');
    await assert.rejects(relative, /path must start with '\/'/);
    await assert.rejects(
      client.post('/x', {}, { idempotencyKey: '' }),
      /idempotencyKey must have 1 to 255 characters/,
    );
    await assert.rejects(client.get('/x', { timeoutMs: -1 }), /timeoutMs must be >= 0/);
    await client.close();
  });
});

describe('httpClient: retries per method', () => {
  let server: MeshServer;
  let address: string;
  const seen: { method: string; key: string | undefined }[] = [];
  let failuresLeft = 0;
  let status = 503;
  before(async () => {
    ({ server, address } = await serve((req) => {
      seen.push({ method: req.method, key: req.headers['idempotency-key'] as string | undefined });
      if (failuresLeft > 0) {
        failuresLeft--;
        return { status, body: { error: 'try later' } };
      }
      return { body: { ok: true } };
    }));
  });
  after(() => server.shutdown());
  const reset = (failures: number, withStatus = 503): void => {
    seen.length = 0;
    failuresLeft = failures;
    status = withStatus;
  };

  it('retries GET, PUT and DELETE on 503 up to maxAttempts', async () => {
    const client = httpClient({
      service: 's',
      endpoints: [address],
      policies: { retry: { ...noWait, maxAttempts: 3 } },
    });
    for (const method of ['get', 'put', 'delete'] as const) {
      reset(2);
      assert.deepEqual(await (method === 'put' ? client.put('/', {}) : client[method]('/')), { ok: true });
      assert.equal(seen.length, 3, method);
    }
    reset(5);
    const error = meshError(await client.get('/').catch((e: unknown) => e), ErrorCode.HTTP_STATUS);
    assert.equal(error.details.status, 503);
    assert.equal(seen.length, 3, 'stops at maxAttempts');
    await client.close();
  });

  it('does not retry a non-retryable status', async () => {
    const client = httpClient({ service: 's', endpoints: [address], policies: { retry: noWait } });
    reset(1, 400);
    meshError(await client.get('/').catch((e: unknown) => e), ErrorCode.HTTP_STATUS);
    assert.equal(seen.length, 1);
    await client.close();
  });

  it('never retries POST or PATCH without an Idempotency-Key', async () => {
    const client = httpClient({ service: 's', endpoints: [address], policies: { retry: noWait } });
    for (const method of ['post', 'patch'] as const) {
      reset(1);
      meshError(await client[method]('/', { n: 1 }).catch((e: unknown) => e), ErrorCode.HTTP_STATUS);
      assert.equal(seen.length, 1, method);
      assert.equal(seen[0]?.key, undefined);
    }
    await client.close();
  });

  it('retries POST with an Idempotency-Key, the same key on every attempt, a new one per call', async () => {
    const client = httpClient({
      service: 's',
      endpoints: [address],
      autoIdempotencyKey: true,
      policies: { retry: noWait },
    });
    reset(2);
    await client.post('/', { n: 1 });
    assert.equal(seen.length, 3);
    const key = seen[0]?.key;
    assert.ok(key !== undefined && key.length > 0);
    assert.ok(seen.every((s) => s.key === key));
    reset(0);
    await client.post('/', { n: 1 });
    assert.notEqual(seen[0]?.key, key);
    // GET carries no key even with autoIdempotencyKey; an explicit key wins.
    reset(0);
    await client.get('/');
    await client.patch('/', {}, { idempotencyKey: 'mine' });
    assert.deepEqual(
      seen.map((s) => s.key),
      [undefined, 'mine'],
    );
    await client.close();
  });

  it('honours Retry-After on the clock, capped by maxDelayMs', async () => {
    const clock = new FakeClock(Date.now());
    const local = await serve(
      (() => {
        let calls = 0;
        return () =>
          ++calls === 1 ? { status: 503, headers: { 'retry-after': '120' }, body: {} } : { body: { calls } };
      })(),
    );
    const client = httpClient({
      service: 's',
      endpoints: [local.address],
      clock,
      policies: { deadlineMs: 600_000, attemptTimeoutMs: false, retry: { maxDelayMs: 2_000 } },
    });
    let settled = false;
    const scheduled: number[] = [];
    const onRetry = (event: { delayMs: number }): void => {
      scheduled.push(event.delayMs);
    };
    channels.retryScheduled.subscribe(onRetry);
    const pending = client.get('/').then((v) => {
      settled = true;
      return v;
    });
    // The 503 came back and the retry is about to sleep on the fake clock.
    while (scheduled.length === 0) await new Promise((r) => setImmediate(r));
    channels.retryScheduled.unsubscribe(onRetry);
    assert.deepEqual(scheduled, [2_000]);
    await clock.advance(1_999);
    assert.equal(settled, false, 'waits for the (capped) Retry-After');
    await clock.advance(1);
    assert.deepEqual(await pending, { calls: 2 });
    await client.close();
    await local.server.shutdown();
  });
});

describe('httpClient: the attempt covers the whole response', () => {
  it('retries a GET whose body breaks off mid-way, and times out a stalled body on the clock', async () => {
    const clock = new FakeClock(Date.now());
    let calls = 0;
    const { loopback } = await import('../test-support/loopback.ts');
    const server = await loopback((_req, res) => {
      calls++;
      const whole = '{"whole":true}';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(whole.length) });
      if (calls === 1) {
        res.write('{"part');
        res.socket?.destroy(); // the connection dies mid-body
      } else if (calls === 2) {
        res.write('{"stall'); // and this one never finishes
      } else res.end(whole);
    });
    const client = httpClient({
      service: 's',
      endpoints: [server.address],
      clock,
      policies: {
        attemptTimeoutMs: 500,
        deadlineMs: 60_000,
        retry: { ...noWait, maxAttempts: 3 },
        breaker: false,
      },
    });
    try {
      const pending = client.get('/');
      while (calls < 2) await new Promise((resolve) => setImmediate(resolve));
      await clock.advance(500); // the stalled download is an attempt that timed out
      assert.deepEqual(await pending, { whole: true });
      assert.equal(calls, 3);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe('httpClient: idempotency keys end to end', () => {
  it('a POST whose first response is lost is performed once, and the retry gets the stored response', async () => {
    let performed = 0;
    const { server, address } = await serve(
      (req) => {
        performed++;
        return { status: 201, body: { order: performed, key: req.headers['idempotency-key'] } };
      },
      { idempotency: { store: memoryIdempotencyStore() } },
    );
    const proxy = await lossyProxy(address, 1);
    const client = httpClient({
      service: 'orders',
      endpoints: [proxy.address],
      autoIdempotencyKey: true,
      policies: { retry: noWait },
    });
    try {
      const response = await client.request({ method: 'POST', path: '/orders', body: { sku: 'a' } });
      assert.equal(response.status, 201);
      assert.equal(response.headers['idempotent-replayed'], 'true');
      const body = (await response.body.json()) as { order: number };
      assert.equal(body.order, 1);
      assert.equal(performed, 1, 'the work ran once');
    } finally {
      await client.close();
      await proxy.close();
      await server.shutdown();
    }
  });

  it('without a key the lost response surfaces as ERR_CONNECTION_RESET and is not repeated', async () => {
    let performed = 0;
    const { server, address } = await serve(() => {
      performed++;
      return { status: 201, body: {} };
    });
    const proxy = await lossyProxy(address, 1);
    const client = httpClient({ service: 'orders', endpoints: [proxy.address], policies: { retry: noWait } });
    try {
      meshError(await client.post('/orders', {}).catch((e: unknown) => e), ErrorCode.CONNECTION_RESET);
      assert.equal(performed, 1);
    } finally {
      await client.close();
      await proxy.close();
      await server.shutdown();
    }
  });
});
