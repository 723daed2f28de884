import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { embeddedRegistry } from '@meshkit/discovery';
import { type Gateway, startGateway } from './gateway.ts';
import { type Fleet, fleet, send } from './test-support/fleet.ts';
import { isValidTraceparent } from './trace.ts';

const canary = { 'x-canary': 'true' };

describe('gateway edge: headers, identity and limits', () => {
  let f: Fleet;
  let gateway: Gateway | undefined;
  beforeEach(async () => {
    f = await fleet();
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await f.close();
  });

  it('drops hop-by-hop request headers, Connection-named ones included, and adds Forwarded / X-Forwarded-*', async () => {
    const v2 = await f.start('v2');
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    const res = await send(gateway.url, '/api/users/1', {
      headers: {
        ...canary,
        connection: 'keep-alive, x-client-secret',
        'x-client-secret': 'do not forward',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        upgrade: 'h2c',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'x-forwarded-for': '203.0.113.7',
        'x-end-to-end': 'kept',
        host: 'api.example.com',
      },
    });
    assert.equal(res.status, 200);
    const seen = v2.seen[0]!.headers;
    for (const name of ['x-client-secret', 'keep-alive', 'te', 'upgrade', 'proxy-authorization']) {
      assert.equal(seen[name], undefined, `${name} reached the upstream`);
    }
    assert.equal(seen['x-end-to-end'], 'kept');
    assert.equal(seen['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-host'], 'api.example.com');
    assert.equal(seen.forwarded, 'for=127.0.0.1;host=api.example.com;proto=http');
    assert.notEqual(seen.host, 'api.example.com', 'the upstream gets its own authority');
  });

  it('drops hop-by-hop response headers the upstream sent', async () => {
    await f.start('v2', () => ({
      headers: {
        connection: 'x-upstream-secret',
        'x-upstream-secret': 'internal',
        'keep-alive': 'timeout=99',
        'proxy-authenticate': 'Basic',
        'x-end-to-end': 'kept',
      },
      body: { ok: true },
    }));
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    const res = await send(gateway.url, '/api/users/1', { headers: canary });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-upstream-secret'], undefined);
    assert.equal(res.headers['proxy-authenticate'], undefined);
    assert.notEqual(res.headers['keep-alive'], 'timeout=99');
    assert.notEqual(res.headers.connection, 'x-upstream-secret');
    assert.equal(res.headers['x-end-to-end'], 'kept');
    assert.deepEqual(res.json(), { ok: true });
  });

  it('generates an x-request-id when absent, keeps the client’s, and echoes it', async () => {
    const v2 = await f.start('v2');
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    const fresh = await send(gateway.url, '/api/users/1', { headers: canary });
    const id = fresh.headers['x-request-id'];
    assert.match(String(id), /^[0-9a-f-]{36}$/);
    assert.equal(v2.seen[0]!.headers['x-request-id'], id);
    const given = await send(gateway.url, '/api/users/1', {
      headers: { ...canary, 'x-request-id': 'client-42' },
    });
    assert.equal(given.headers['x-request-id'], 'client-42');
    assert.equal(v2.seen[1]!.headers['x-request-id'], 'client-42');
  });

  it('generates a traceparent when absent, passes a valid one on, replaces a malformed one', async () => {
    const v2 = await f.start('v2');
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    await send(gateway.url, '/api/users/1', { headers: canary });
    const generated = String(v2.seen[0]!.headers.traceparent);
    assert.ok(isValidTraceparent(generated), generated);

    const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await send(gateway.url, '/api/users/1', {
      headers: { ...canary, traceparent: valid, tracestate: 'congo=t61rcWkgMzE' },
    });
    assert.equal(v2.seen[1]!.headers.traceparent, valid);
    assert.equal(v2.seen[1]!.headers.tracestate, 'congo=t61rcWkgMzE');

    const malformed = '00-00000000000000000000000000000000-00f067aa0ba902b7-01';
    await send(gateway.url, '/api/users/1', {
      headers: { ...canary, traceparent: malformed, tracestate: 'congo=x' },
    });
    const replaced = String(v2.seen[2]!.headers.traceparent);
    assert.ok(isValidTraceparent(replaced), replaced);
    assert.notEqual(replaced, malformed);
    assert.equal(v2.seen[2]!.headers.tracestate, undefined, 'tracestate goes with an invalid traceparent');
  });

  it('streams a body upstream and back', async () => {
    const v2 = await f.start('v2', (req) => ({
      status: 201,
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.concat([req.body, req.body]),
    }));
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    const payload = Buffer.alloc(300_000, 7);
    const res = await send(gateway.url, '/api/users', {
      method: 'POST',
      headers: { ...canary, 'content-type': 'application/octet-stream', 'content-length': payload.length },
      body: payload,
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.length, 600_000);
    assert.equal(v2.seen[0]!.body.length, 300_000);
  });

  it('refuses a body over the limit with 413, declared or streamed, without reaching the upstream', async () => {
    const v2 = await f.start('v2');
    gateway = await startGateway({
      registry: f.registry,
      routes: f.routes,
      limits: { maxRequestBodyBytes: 1_000 },
      shutdown: { signals: false },
    });
    const declared = await send(gateway.url, '/api/users', {
      method: 'POST',
      headers: { ...canary, 'content-type': 'application/json', 'content-length': 2_000 },
      body: Buffer.alloc(2_000, 32),
    });
    assert.equal(declared.status, 413);
    assert.equal(declared.headers['content-type'], 'application/problem+json');
    assert.equal(declared.json().field, 'body');
    assert.equal(declared.json().requestId, declared.headers['x-request-id']);
    assert.equal(v2.seen.length, 0);

    // Chunked: the size is only known once the bytes flow.
    const chunked = await rawRequest(gateway.address.port, [
      'POST /api/users HTTP/1.1',
      'Host: gateway',
      'x-canary: true',
      'Transfer-Encoding: chunked',
      'Connection: close',
      '',
      `${(3_000).toString(16)}\r\n${'x'.repeat(3_000)}\r\n0\r\n\r\n`,
    ]);
    assert.match(chunked, /^HTTP\/1\.1 413 /);
    assert.equal(v2.seen.length, 0, 'the kit upstream never handled the cut-off upload');
  });

  it('answers 502 for an upstream response declared over the response limit', async () => {
    await f.start('v2', () => ({ headers: { 'content-type': 'text/plain' }, body: 'y'.repeat(5_000) }));
    gateway = await startGateway({
      registry: f.registry,
      routes: f.routes,
      limits: { maxResponseBodyBytes: 1_000 },
      shutdown: { signals: false },
    });
    const res = await send(gateway.url, '/api/users/1', { headers: canary });
    assert.equal(res.status, 502);
    assert.equal(res.headers['content-type'], 'application/problem+json');
  });

  it('cuts off a streamed response that runs past the response limit', async () => {
    // A plain server streaming chunked bytes, with no Content-Length to refuse it by up front.
    const upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(800, 1));
      res.end(Buffer.alloc(800, 2));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const reg = await f.registry.register({
      id: 'user-service-v2',
      service: 'user-service',
      address: '127.0.0.1',
      port: (upstream.address() as AddressInfo).port,
      protocols: ['http'],
      labels: { version: 'v2' },
    });
    try {
      gateway = await startGateway({
        registry: f.registry,
        routes: f.routes,
        limits: { maxResponseBodyBytes: 1_000 },
        shutdown: { signals: false },
      });
      await assert.rejects(
        send(gateway.url, '/api/users/1', { headers: canary }),
        /aborted|ECONNRESET|socket hang up/,
      );
    } finally {
      await reg.deregister();
      upstream.close();
    }
  });

  it('answers 502 problem+json when the upstream breaks the connection before answering', async () => {
    let requests = 0;
    const upstream = createServer((req) => {
      requests++;
      req.socket.destroy();
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const reg = await f.registry.register({
      id: 'user-service-v2',
      service: 'user-service',
      address: '127.0.0.1',
      port: (upstream.address() as AddressInfo).port,
      protocols: ['http'],
      labels: { version: 'v2' },
    });
    try {
      gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
      const res = await send(gateway.url, '/api/users/1', {
        headers: { ...canary, 'x-request-id': 'reset-1' },
      });
      assert.equal(res.status, 502);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal(res.json().code, 'ERR_CONNECTION_RESET');
      assert.equal(res.json().requestId, 'reset-1');
      assert.equal(requests, 1, 'a reset is not in the route’s retryOn');
    } finally {
      await reg.deregister();
      upstream.close();
    }
  });

  it('answers 408 and disconnects a client that sends its headers too slowly', async () => {
    gateway = await startGateway({
      registry: f.registry,
      routes: f.routes,
      limits: { headersTimeoutMs: 200, requestTimeoutMs: 1_000 },
      shutdown: { signals: false },
    });
    // The headers never end: the request line and one field, then nothing.
    const answer = await rawRequest(gateway.address.port, [
      'GET /api/users/1 HTTP/1.1',
      'Host: gateway',
      'x-slow: 1',
    ]);
    assert.match(answer, /^HTTP\/1\.1 408 /);
  });

  it('answers health, an unknown path and an unrelayed method itself', async () => {
    await f.start('v2');
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    assert.equal((await send(gateway.url, '/healthz')).status, 200);
    assert.equal((await send(gateway.url, '/readyz')).status, 200);
    const unknown = await send(gateway.url, '/api/orders/1');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers['content-type'], 'application/problem+json');
    assert.equal((await send(gateway.url, '/api/usersX')).status, 404);
    const trace = await send(gateway.url, '/api/users/1', { method: 'TRACE' });
    assert.equal(trace.status, 405);
  });

  it('is not ready while its registry cannot answer', async () => {
    const registry = embeddedRegistry({ path: join(f.dir, 'other-registry.db') });
    gateway = await startGateway({ registry, routes: f.routes, shutdown: { signals: false } });
    assert.equal((await send(gateway.url, '/readyz')).status, 200);
    await registry.close();
    const res = await send(gateway.url, '/readyz');
    assert.equal(res.status, 503);
    assert.deepEqual(res.json().checks, { discovery: 'fail' });
    assert.equal((await send(gateway.url, '/healthz')).status, 200);
  });

  it('drains on close: a request in flight finishes before close resolves', async () => {
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    await f.start('v2', async () => {
      arrived();
      await released;
      return { body: { done: true } };
    });
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    const pending = send(gateway.url, '/api/users/1', { headers: canary });
    await arrival;
    const closing = gateway.close();
    release();
    const res = await pending;
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { done: true });
    await closing;
    gateway = undefined;
  });
});

/** Writes raw request lines and reads the whole answer (the connection is closed by either side). */
function rawRequest(port: number, lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e) =>
      chunks.length > 0 ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(e),
    );
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(lines.join('\r\n'));
  });
}
