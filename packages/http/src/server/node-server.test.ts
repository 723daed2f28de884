import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, FakeClock, InvalidArgumentError, metadataText } from '@meshkit/core';
import { advertisedAddress, staticRegistry } from '@meshkit/discovery';
import { rawExchange } from '../test-support/raw.ts';
import { memoryIdempotencyStore } from './idempotency.ts';
import { httpServer, type MeshServer } from './node-server.ts';
import { HttpProblem } from './problem.ts';

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

const userSchema = {
  '~standard': {
    version: 1 as const,
    vendor: 'test',
    validate(value: unknown) {
      const v = value as { email?: unknown };
      if (typeof v?.email !== 'string' || !v.email.includes('@')) {
        return { issues: [{ message: 'must be an e-mail address', path: ['email'] }] };
      }
      return { value: v as { email: string } };
    },
  },
};

describe('httpServer', () => {
  const clock = new FakeClock();
  let server: MeshServer;
  let base: string;
  let seenRemaining: number | undefined;
  let seenTrace: string | undefined;
  let handled = 0;
  let dependencyUp = true;

  before(async () => {
    server = httpServer({
      service: 'users',
      clock,
      limits: { maxBodyBytes: 1_000, maxHeaderBytes: 2_048 },
      checks: {
        db: () => {
          if (!dependencyUp) throw new Error('db down at 10.0.0.9');
        },
      },
      shutdown: { signals: false, exit: false },
      handler: async (req, ctx) => {
        handled++;
        seenRemaining = ctx.remainingMs();
        seenTrace = metadataText(ctx.metadata, 'traceparent');
        switch (req.path) {
          case '/users':
            return { status: 201, body: await req.json(userSchema) };
          case '/boom':
            throw new Error('secret internals at /srv/app.js:12');
          case '/missing':
            throw new HttpProblem({ status: 404, title: 'user not found', field: 'id' });
          default:
            return { body: { path: req.path, q: req.query.get('q') } };
        }
      },
    });
    const { port } = await server.listen();
    base = `http://127.0.0.1:${port}`;
  });
  after(() => server.shutdown());

  it('serves /healthz, and /readyz with the dependency checks, naming the failing one without its cause', async () => {
    assert.deepEqual((await call(base, '/healthz')).body, { status: 'ok' });
    const ready = await call(base, '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', checks: { db: 'ok' } });
    dependencyUp = false;
    const down = await call(base, '/readyz');
    dependencyUp = true;
    assert.equal(down.status, 503);
    assert.deepEqual(down.body, { status: 'not ready', checks: { db: 'fail' } });
  });

  it('starts the handler’s deadline from the incoming header and propagates trace headers', async () => {
    const reply = await call(base, '/hello?q=1', {
      headers: { 'x-meshkit-timeout-ms': '750', traceparent: '00-trace-span-01', 'x-request-id': 'req-9' },
    });
    assert.deepEqual(reply.body, { path: '/hello', q: '1' });
    assert.equal(seenRemaining, 750);
    assert.equal(seenTrace, '00-trace-span-01');
    assert.equal(reply.headers.get('x-request-id'), 'req-9');
  });

  it('refuses already-expired work at once with 504 and ERR_DEADLINE_EXCEEDED, before the handler', async () => {
    const before = handled;
    const reply = await call(base, '/hello', { headers: { 'x-meshkit-timeout-ms': '0' } });
    assert.equal(reply.status, 504);
    assert.equal(reply.body.code, ErrorCode.DEADLINE_EXCEEDED);
    assert.equal(reply.headers.get('x-meshkit-error'), ErrorCode.DEADLINE_EXCEEDED);
    assert.equal(reply.headers.get('x-meshkit-rejected'), '1');
    assert.equal(handled, before);
  });

  it('answers a malformed deadline header with 400 naming the header', async () => {
    const reply = await call(base, '/hello', { headers: { 'x-meshkit-timeout-ms': 'soon' } });
    assert.equal(reply.status, 400);
    assert.equal(reply.body.field, 'header:x-meshkit-timeout-ms');
  });

  it('validates JSON bodies: malformed → 400, wrong type → 415, schema failure → 400 naming the field', async () => {
    const json = { 'content-type': 'application/json' };
    const ok = await call(base, '/users', { method: 'POST', headers: json, body: '{"email":"a@b.c"}' });
    assert.equal(ok.status, 201);
    assert.deepEqual(ok.body, { email: 'a@b.c' });

    const malformed = await call(base, '/users', { method: 'POST', headers: json, body: '{"email":' });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.headers.get('content-type'), 'application/problem+json');
    assert.equal(malformed.body.title, 'malformed JSON');

    const text = await call(base, '/users', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    assert.equal(text.status, 415);
    assert.equal(text.body.field, 'header:content-type');

    const invalid = await call(base, '/users', { method: 'POST', headers: json, body: '{"email":"nope"}' });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.field, 'email');
    assert.deepEqual(invalid.body.errors, [{ field: 'email', message: 'must be an e-mail address' }]);
  });

  it('refuses an oversize body with 413', async () => {
    const reply = await call(base, '/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'a@b.c', pad: 'x'.repeat(2_000) }),
    });
    assert.equal(reply.status, 413);
    assert.equal(reply.body.field, 'body');
  });

  it('refuses oversize and malformed headers with a clear 4xx problem', async () => {
    const address = base.slice('http://'.length);
    const big = await rawExchange(
      address,
      `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(4_000)}\r\n\r\n`,
    );
    assert.match(big, /^HTTP\/1.1 431 /);
    assert.match(big, /application\/problem\+json/);
    const bad = await rawExchange(address, 'GET / HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n');
    assert.match(bad, /^HTTP\/1.1 400 /);
    assert.match(bad, /malformed request/);
  });

  it('never leaks internals: a thrown error becomes a bare 500 problem', async () => {
    const reply = await call(base, '/boom');
    assert.equal(reply.status, 500);
    assert.deepEqual(reply.body, { type: 'about:blank', status: 500, title: 'internal error' });
    const missing = await call(base, '/missing');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.field, 'id');
  });

  it('validates options at construction', () => {
    assert.throws(
      () => httpServer({ service: '', handler: () => ({}) }),
      (e: unknown) => e instanceof InvalidArgumentError && e.field === 'httpServer.service',
    );
    assert.throws(
      () => httpServer({ service: 's', handler: () => ({}), limits: { maxBodyBytes: -1 } }),
      /httpServer.limits.maxBodyBytes must be an integer >= 0/,
    );
    assert.throws(
      () => httpServer({ service: 's', handler: () => ({}), shutdown: { drainTimeoutMs: 1.5 } }),
      /shutdown.drainTimeoutMs must be an integer/,
    );
    assert.throws(
      () =>
        httpServer({
          service: 's',
          handler: () => ({}),
          limits: { requestTimeoutMs: 1_000, headersTimeoutMs: 2_000 },
        }),
      (e: unknown) => e instanceof InvalidArgumentError && e.field === 'httpServer.limits.headersTimeoutMs',
    );
    assert.throws(
      // @ts-expect-error: not a layer
      () => httpServer({ service: 's', handler: () => ({}), layers: [{ name: 'x' }] }),
      (e: unknown) => e instanceof InvalidArgumentError && e.field === 'httpServer.layers[0]',
    );
  });
});

describe('httpServer idempotency keys', () => {
  it('replays the stored response for a repeated key and answers 409 for the same key with another body', async () => {
    let performed = 0;
    const server = httpServer({
      service: 'orders',
      shutdown: { signals: false, exit: false },
      idempotency: { store: memoryIdempotencyStore() },
      handler: async (req) => {
        performed++;
        if (req.path === '/fail') return { status: 503, body: { try: 'again' } };
        return { status: 201, body: { order: performed, ...((await req.json()) as object) } };
      },
    });
    const { port } = await server.listen();
    const base = `http://127.0.0.1:${port}`;
    try {
      const post = (key: string, body: string, path = '/orders') =>
        call(base, path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body,
        });
      const first = await post('k1', '{"sku":"a"}');
      const again = await post('k1', '{"sku":"a"}');
      assert.equal(first.status, 201);
      assert.deepEqual(again.body, first.body);
      assert.equal(again.status, 201);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.equal(performed, 1);

      const conflict = await post('k1', '{"sku":"b"}');
      assert.equal(conflict.status, 409);
      assert.equal(conflict.body.field, 'header:idempotency-key');
      assert.equal(performed, 1);

      // Server failures are not stored: the retry runs the work again.
      await post('k2', '{}', '/fail');
      await post('k2', '{}', '/fail');
      assert.equal(performed, 3);
    } finally {
      await server.shutdown();
    }
  });
});

describe('httpServer lifecycle', () => {
  it('listening on 0.0.0.0 registers a routable address that a client reaches', async () => {
    const registry = staticRegistry();
    const server = httpServer({
      service: 'users',
      registry,
      shutdown: { signals: false, exit: false, graceMs: 0 },
      handler: () => ({ body: { ok: true } }),
    });
    const { port } = await server.listen({ port: 0, host: '0.0.0.0' });
    const [instance] = await registry.lookup('users');
    assert.equal(instance?.address, advertisedAddress('0.0.0.0'));
    assert.notEqual(instance?.address, '0.0.0.0');
    const reply = await call(`http://${instance!.address}:${port}`, '/');
    assert.equal(reply.status, 200);
    await server.shutdown();
    await registry.close();
  });

  it('registers on listen; on SIGTERM deregisters first, refuses new work, drains in-flight, then exits 0', async () => {
    const registry = staticRegistry();
    const signals = new EventEmitter();
    const exits: number[] = [];
    const order: string[] = [];
    let release!: () => void;
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    const server = httpServer({
      service: 'users',
      registry,
      shutdown: {
        signals,
        graceMs: 0,
        exit: (code) => exits.push(code),
        onClose: () => order.push('closed'),
      },
      handler: async (req) => {
        if (req.path === '/slow') await slow;
        return { body: { path: req.path } };
      },
    });
    const { port } = await server.listen();
    const base = `http://127.0.0.1:${port}`;
    const [instance] = await registry.lookup('users');
    assert.equal(instance?.port, port);
    assert.equal(instance?.check?.type, 'http');

    const inFlight = call(base, '/slow');
    while (server.inFlight === 0) await new Promise((r) => setImmediate(r));
    signals.emit('SIGTERM');
    while (!server.lifecycle.draining) await new Promise((r) => setImmediate(r));
    assert.deepEqual(await registry.lookup('users'), [], 'deregistered before draining');

    // A new request on a fresh connection is refused (connection closed) or cleanly refused with 503.
    const late: Reply | Error = await call(base, '/late', { headers: { connection: 'close' } }).catch(
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    );
    if (!(late instanceof Error)) {
      assert.equal(late.status, 503);
      assert.equal(late.headers.get('x-meshkit-rejected'), '1');
    }
    assert.equal(exits.length, 0, 'does not exit while a request is in flight');
    release();
    assert.equal((await inFlight).status, 200);
    while (exits.length === 0) await new Promise((r) => setImmediate(r));
    assert.deepEqual(exits, [0]);
    assert.deepEqual(order, ['closed']);
    await registry.close();
  });

  it('gives up on in-flight work after drainTimeoutMs', async () => {
    const clock = new FakeClock();
    const server = httpServer({
      service: 'users',
      clock,
      shutdown: { signals: false, exit: false, drainTimeoutMs: 5_000 },
      handler: () => new Promise(() => {}),
    });
    const { port } = await server.listen();
    const stuck = fetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    while (server.inFlight === 0) await new Promise((r) => setImmediate(r));
    let done = false;
    const shutdown = server.shutdown().then(() => {
      done = true;
    });
    await clock.advance(4_999);
    assert.equal(done, false);
    await clock.advance(1);
    await shutdown;
    assert.ok((await stuck) instanceof Error, 'the stuck request was cut off');
  });
});
