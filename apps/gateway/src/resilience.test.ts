import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FakeClock } from '@meshkit/core';
import { type Gateway, startGateway } from './gateway.ts';
import { type Fleet, fleet, send } from './test-support/fleet.ts';

const canary = { 'x-canary': 'true' };

describe('gateway retries, timeouts and upstream failures', () => {
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

  it('retries a 503 as the VirtualService says, and the second try answers', async () => {
    let calls = 0;
    const v2 = await f.start('v2', () => {
      calls++;
      return calls === 1 ? { status: 503, body: { error: 'warming up' } } : { body: { ok: true } };
    });
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    const res = await send(gateway.url, '/api/users/1', { headers: canary });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { ok: true });
    assert.equal(v2.seen.length, 2, 'one failed try and one retry reached the server');
    assert.equal(res.headers['x-meshkit-attempts'], '2');
  });

  it('stops after attempts: 3 retries and relays the upstream answer of the last try', async () => {
    const v2 = await f.start('v2', () => ({
      status: 503,
      headers: { 'retry-after': '0' },
      body: { error: 'down' },
    }));
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    const res = await send(gateway.url, '/api/users/1', { headers: canary });
    assert.equal(res.status, 503);
    assert.deepEqual(res.json(), { error: 'down' });
    assert.equal(v2.seen.length, 4, 'the first try and three retries');
    assert.equal(res.headers['x-meshkit-attempts'], '4');
  });

  it('relays an upstream 404 as it is, without retrying', async () => {
    const v2 = await f.start('v2', () => ({
      status: 404,
      headers: { 'content-type': 'application/problem+json' },
      body: { title: 'user not found', status: 404 },
    }));
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    const res = await send(gateway.url, '/api/users/404', { headers: canary });
    assert.equal(res.status, 404);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.deepEqual(res.json(), { title: 'user not found', status: 404 });
    assert.equal(res.headers['x-meshkit-attempts'], '1');
    assert.equal(v2.seen.length, 1);
  });

  it('bounds each try by perTryTimeout (2s), sent upstream as the deadline, and answers 504 when it passes', async () => {
    const clock = new FakeClock();
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const v2 = await f.start('v2', async (_req, ctx) => {
      arrived();
      await new Promise<void>((resolve) => ctx.onAbort(() => resolve()));
      return { body: { late: true } };
    });
    gateway = await startGateway({
      registry: f.registry,
      routes: f.routes,
      clock,
      shutdown: { signals: false },
    });
    const pending = send(gateway.url, '/api/users/1', { headers: canary });
    await arrival;
    assert.equal(v2.seen[0]!.headers['x-meshkit-timeout-ms'], '2000');
    await clock.advance(2_000);
    const res = await pending;
    assert.equal(res.status, 504);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.equal(res.json().code, 'ERR_TIMEOUT');
    assert.equal(v2.seen.length, 1, 'a timed-out try is not in retryOn');
  });

  it('bounds the whole call by the route timeout (10s) when a try may take longer', async () => {
    const file = join(f.routes, 'virtual-service.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replaceAll('perTryTimeout: 2s', 'perTryTimeout: 30s'));
    const clock = new FakeClock();
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const v2 = await f.start('v2', async (_req, ctx) => {
      arrived();
      await new Promise<void>((resolve) => ctx.onAbort(() => resolve()));
      return { body: {} };
    });
    gateway = await startGateway({
      registry: f.registry,
      routes: f.routes,
      clock,
      shutdown: { signals: false },
    });
    const pending = send(gateway.url, '/api/users/1', { headers: canary });
    await arrival;
    assert.equal(v2.seen[0]!.headers['x-meshkit-timeout-ms'], '10000');
    await clock.advance(10_000);
    const res = await pending;
    assert.equal(res.status, 504);
    assert.equal(res.json().code, 'ERR_DEADLINE_EXCEEDED');
    assert.equal(v2.seen.length, 1);
  });

  it('sends the edge deadline, or the client’s shorter one, as x-meshkit-timeout-ms', async () => {
    const clock = new FakeClock();
    const v2 = await f.start('v2');
    gateway = await startGateway({
      registry: f.registry,
      routes: f.routes,
      clock,
      deadlineMs: 1_500,
      shutdown: { signals: false },
    });
    assert.equal((await send(gateway.url, '/api/users/1', { headers: canary })).status, 200);
    assert.equal(v2.seen[0]!.headers['x-meshkit-timeout-ms'], '1500');
    await send(gateway.url, '/api/users/1', { headers: { ...canary, 'x-meshkit-timeout-ms': '700' } });
    assert.equal(v2.seen[1]!.headers['x-meshkit-timeout-ms'], '700');
    const malformed = await send(gateway.url, '/api/users/1', {
      headers: { ...canary, 'x-meshkit-timeout-ms': 'soon' },
    });
    assert.equal(malformed.status, 400);
    assert.equal(v2.seen.length, 2);
  });

  it('answers 503 problem+json with the request id when the upstream is down', async () => {
    // Registered, but nothing listens there: every try fails to connect.
    const reg = await f.registry.register({
      id: 'user-service-v2',
      service: 'user-service',
      address: '127.0.0.1',
      port: 1,
      protocols: ['http'],
      labels: { version: 'v2' },
    });
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    const res = await send(gateway.url, '/api/users/1', {
      headers: { ...canary, 'x-request-id': 'req-down-1' },
    });
    assert.equal(res.status, 503);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.equal(res.headers['x-request-id'], 'req-down-1');
    const problem = res.json();
    assert.equal(problem.status, 503);
    assert.equal(problem.code, 'ERR_CONNECT');
    assert.equal(problem.requestId, 'req-down-1');
    await reg.deregister();
  });

  it('cancels the upstream call when the client disconnects', async () => {
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    let cancelled!: () => void;
    const cancellation = new Promise<void>((resolve) => {
      cancelled = resolve;
    });
    await f.start('v2', async (_req, ctx) => {
      arrived();
      await new Promise<void>((resolve) => ctx.onAbort(() => resolve()));
      cancelled();
      return { body: {} };
    });
    gateway = await startGateway({ registry: f.registry, routes: f.routes, shutdown: { signals: false } });
    const req = httpRequest(`${gateway.url}/api/users/1`, { headers: canary, agent: false });
    req.on('error', () => {});
    req.end();
    await arrival;
    req.destroy();
    await cancellation; // the upstream's own context was cancelled: its connection from the gateway closed
    assert.equal(gateway.describe().inFlight, 0);
  });
});
