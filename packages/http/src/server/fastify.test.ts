import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, FakeClock } from '@meshkit/core';
import { advertisedAddress, staticRegistry } from '@meshkit/discovery';
import { slowRequest } from '@meshkit/testkit';
import Fastify, { type FastifyInstance } from 'fastify';
import { meshkitFastify } from './fastify.ts';
import { memoryIdempotencyStore } from './idempotency.ts';
import { uploadPending } from './unread-upload.ts';

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(base: string, path: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? {} : JSON.parse(text) };
}

const json = { 'content-type': 'application/json' };

describe('meshkitFastify', () => {
  const clock = new FakeClock();
  let app: FastifyInstance;
  let base: string;
  let performed = 0;
  let seenRemaining: number | undefined;
  let dbUp = true;

  before(async () => {
    app = Fastify({ bodyLimit: 1_000 });
    await app.register(meshkitFastify, {
      service: 'users',
      clock,
      checks: {
        db: () => {
          if (!dbUp) throw new Error('db down');
        },
      },
      idempotency: { store: memoryIdempotencyStore({ clock }) },
      shutdown: { signals: false, exit: false },
    });
    app.get('/deadline', async (request) => {
      seenRemaining = request.meshkit.remainingMs();
      return { trace: request.meshkit.metadata.traceparent };
    });
    app.post(
      '/users',
      {
        schema: {
          body: {
            type: 'object',
            required: ['email'],
            properties: { email: { type: 'string', format: 'email' }, age: { type: 'integer' } },
          },
        },
      },
      async (request, reply) => {
        performed++;
        reply.code(201);
        return { id: performed, ...(request.body as object) };
      },
    );
    app.get('/boom', async () => {
      throw new Error('secret at /srv/app.js:3');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  after(() => app.close());

  it('serves /healthz and /readyz with dependency checks', async () => {
    assert.deepEqual((await call(base, '/healthz')).body, { status: 'ok' });
    assert.equal((await call(base, '/readyz')).status, 200);
    dbUp = false;
    const down = await call(base, '/readyz');
    dbUp = true;
    assert.equal(down.status, 503);
    assert.deepEqual(down.body, { status: 'not ready', checks: { db: 'fail' } });
  });

  it('puts the incoming deadline and trace headers in request.meshkit; refuses expired work with 504', async () => {
    const ok = await call(base, '/deadline', {
      headers: { 'x-meshkit-timeout-ms': '400', traceparent: '00-t-s-01' },
    });
    assert.equal(seenRemaining, 400);
    assert.equal(ok.body.trace, '00-t-s-01');
    const expired = await call(base, '/deadline', { headers: { 'x-meshkit-timeout-ms': '0' } });
    assert.equal(expired.status, 504);
    assert.equal(expired.body.code, ErrorCode.DEADLINE_EXCEEDED);
    assert.equal(expired.headers.get('x-meshkit-rejected'), '1');
    const bad = await call(base, '/deadline', { headers: { 'x-meshkit-timeout-ms': '-5' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.field, 'header:x-meshkit-timeout-ms');
  });

  it("answers Fastify's own 404, 405 and malformed-JSON 400 with problem documents", async () => {
    const missing = await call(base, '/nowhere?x=1');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('content-type'), 'application/problem+json');
    assert.equal(missing.body.title, 'not found');
    assert.equal(missing.body.detail, 'no route for GET /nowhere');
    const wrongMethod = await call(base, '/boom', { method: 'DELETE' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('content-type'), 'application/problem+json');
    assert.equal(wrongMethod.headers.get('allow'), 'GET, HEAD');
    const malformed = await call(base, '/users', { method: 'POST', headers: json, body: '{"email":' });
    assert.equal(malformed.headers.get('content-type'), 'application/problem+json');
  });

  it('answers validation failures, malformed JSON and oversize bodies with problem documents', async () => {
    const invalid = await call(base, '/users', {
      method: 'POST',
      headers: json,
      body: '{"email":"a@b.co","age":"x"}',
    });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.headers.get('content-type'), 'application/problem+json');
    assert.equal(invalid.body.field, 'age');
    const missing = await call(base, '/users', { method: 'POST', headers: json, body: '{}' });
    assert.equal(missing.body.field, 'email');
    const malformed = await call(base, '/users', { method: 'POST', headers: json, body: '{"email":' });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.title, 'malformed JSON');
    const big = await call(base, '/users', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email: 'a@b.co', pad: 'x'.repeat(2_000) }),
    });
    assert.equal(big.status, 413);
    assert.equal(big.body.field, 'body');
    const boom = await call(base, '/boom');
    assert.equal(boom.status, 500);
    assert.deepEqual(boom.body, { type: 'about:blank', status: 500, title: 'internal error' });
  });

  it('replays a repeated Idempotency-Key and answers 409 for the same key with another body', async () => {
    const before = performed;
    const post = (body: string) =>
      call(base, '/users', { method: 'POST', headers: { ...json, 'idempotency-key': 'fk-1' }, body });
    const first = await post('{"email":"a@b.co"}');
    const again = await post('{"email":"a@b.co"}');
    assert.equal(first.status, 201);
    assert.equal(again.status, 201);
    assert.deepEqual(again.body, first.body);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(performed, before + 1);
    const conflict = await post('{"email":"c@d.co"}');
    assert.equal(conflict.status, 409);
    assert.equal(performed, before + 1);
  });
});

describe('meshkitFastify with a hijacked reply', () => {
  it('counts the call over once the hijacked response finished, so shutdown does not wait for it', async () => {
    const app = Fastify();
    await app.register(meshkitFastify, {
      service: 'raw',
      idempotency: { store: memoryIdempotencyStore() },
      shutdown: { signals: false, exit: false, drainTimeoutMs: 600_000 },
    });
    let runs = 0;
    app.post('/raw', async (_request, reply) => {
      runs++;
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/plain' });
      reply.raw.end('raw');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const post = () =>
      fetch(`${base}/raw`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'h1' },
        body: '{}',
      });
    const first = await post();
    assert.equal(await first.text(), 'raw');
    const lifecycle = (app as unknown as { meshkitLifecycle: { inFlight: number } }).meshkitLifecycle;
    while (lifecycle.inFlight > 0) await new Promise((r) => setImmediate(r));
    // Nothing was stored (the body never passed through the kit): the key is free again.
    const again = await post();
    assert.equal(await again.text(), 'raw');
    assert.equal(runs, 2);
    await app.close();
  });
});

describe('meshkitFastify under inject()', () => {
  it('runs the same layers without a socket: replay, deadline, 413 problem, health', async () => {
    const app = Fastify({ bodyLimit: 100 });
    await app.register(meshkitFastify, {
      service: 'inject',
      idempotency: { store: memoryIdempotencyStore() },
      shutdown: { signals: false, exit: false },
    });
    let runs = 0;
    let pendingSeen: boolean | undefined;
    app.post('/a', async (request) => {
      runs++;
      pendingSeen = uploadPending(request.raw);
      return { got: request.body };
    });
    app.get('/b', async (request) => ({ remaining: request.meshkit.remainingMs() }));
    const post = (payload: unknown, headers: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: '/a', payload: payload as object, headers });
    const first = await post({ a: 1 }, { 'idempotency-key': 'i1' });
    const again = await post({ a: 1 }, { 'idempotency-key': 'i1' });
    assert.equal(first.statusCode, 200);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(runs, 1);
    assert.equal(pendingSeen, false);
    const big = await post({ a: 'x'.repeat(500) });
    assert.equal(big.statusCode, 413);
    assert.equal(big.headers['content-type'], 'application/problem+json');
    const timed = await app.inject({ method: 'GET', url: '/b', headers: { 'x-meshkit-timeout-ms': '300' } });
    assert.ok(timed.json().remaining <= 300);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).json().status, 'ok');
    await app.close();
  });
});

describe('meshkitFastify limits', () => {
  it('takes Fastify’s own requestTimeout when the plugin sets none, and answers a slow client 408', {
    timeout: 30_000,
  }, async () => {
    const app = Fastify({ requestTimeout: 500 });
    await app.register(meshkitFastify, { service: 'slow', shutdown: { signals: false, exit: false } });
    assert.equal(app.server.requestTimeout, 500);
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const outcome = await slowRequest(`127.0.0.1:${(app.server.address() as { port: number }).port}`, {
        head: 'GET / HTTP/1.1\r\nhost: x\r\n',
        trickle: 'x-slow: a\r\n',
        boundMs: 15_000,
      });
      assert.equal(outcome.serverClosed, true);
      assert.match(outcome.text, /^HTTP\/1.1 408 /);
    } finally {
      await app.close();
    }
  });

  it('checks its limits at registration, naming the field', async () => {
    const app = Fastify();
    await assert.rejects(async () => {
      await app.register(meshkitFastify, { service: 's', limits: { maxHeadersCount: 0 } });
    }, /meshkitFastify.limits.maxHeadersCount must be an integer >= 1/);
  });
});

describe('meshkitFastify with a streamed reply', () => {
  it('drains a stream still being sent before it closes', async () => {
    const app = Fastify();
    await app.register(meshkitFastify, {
      service: 'stream',
      shutdown: { signals: false, exit: false, drainTimeoutMs: 600_000 },
    });
    const body = new PassThrough();
    app.get('/stream', async (_request, reply) => {
      reply.type('text/plain');
      return body;
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const pending = fetch(`http://127.0.0.1:${(app.server.address() as { port: number }).port}/stream`);
    body.write('first '); // Fastify sends the headers with the first chunk
    const res = await pending;
    const order: string[] = [];
    const closed = app.close().then(() => order.push('closed'));
    const lifecycle = (app as unknown as { meshkitLifecycle: { draining: boolean } }).meshkitLifecycle;
    while (!lifecycle.draining) await new Promise((r) => setImmediate(r));
    body.end('last');
    assert.equal(await res.text(), 'first last');
    order.push('body complete');
    await closed;
    assert.deepEqual(order, ['body complete', 'closed']);
  });
});

describe('meshkitFastify lifecycle', () => {
  it('listening on 0.0.0.0 registers a routable address, not 0.0.0.0', async () => {
    const registry = staticRegistry();
    const app = Fastify();
    await app.register(meshkitFastify, {
      service: 'users',
      registry,
      shutdown: { signals: false, exit: false, graceMs: 0 },
    });
    app.get('/', async () => ({ ok: true }));
    await app.listen({ port: 0, host: '0.0.0.0' });
    try {
      const [instance] = await registry.lookup('users');
      assert.equal(instance?.address, advertisedAddress('0.0.0.0'));
      const reply = await call(`http://${instance!.address}:${instance!.port}`, '/');
      assert.equal(reply.status, 200);
    } finally {
      await app.close();
      await registry.close();
    }
  });

  it('registers on listen; on SIGTERM deregisters, drains in-flight, closes Fastify and exits 0', async () => {
    const registry = staticRegistry();
    const signals = new EventEmitter();
    const exits: number[] = [];
    let release!: () => void;
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    const app = Fastify();
    let closed = false;
    app.addHook('onClose', async () => {
      closed = true;
    });
    await app.register(meshkitFastify, {
      service: 'users',
      registry,
      shutdown: { signals, graceMs: 0, exit: (code) => exits.push(code) },
    });
    let started = 0;
    app.get('/slow', async () => {
      started++;
      await slow;
      return { done: true };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    assert.equal((await registry.lookup('users'))[0]?.port, port);
    const inFlight = call(`http://127.0.0.1:${port}`, '/slow');
    while (started === 0) await new Promise((r) => setImmediate(r));
    signals.emit('SIGTERM');
    while ((await registry.lookup('users')).length > 0) await new Promise((r) => setImmediate(r));
    const late = await call(`http://127.0.0.1:${port}`, '/slow', { headers: { connection: 'close' } }).catch(
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    );
    if (!(late instanceof Error)) {
      assert.equal(late.status, 503);
      assert.equal(late.headers.get('x-meshkit-rejected'), '1');
    }
    assert.equal(started, 1, 'the late request did no work');
    assert.equal(closed, false);
    release();
    assert.equal((await inFlight).status, 200);
    while (exits.length === 0) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(exits, [0]);
    assert.equal(closed, true);
    await registry.close();
  });
});
