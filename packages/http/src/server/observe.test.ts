import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { exchangeChannels, metadataText, type ServerRequestEvent } from '@meshkit/core';
import Fastify from 'fastify';
import { meshkitFastify } from './fastify.ts';
import { httpServer } from './node-server.ts';

/** Records server request events for one test; a start subscriber sets `traceparent` to `from-start`. */
function record(t: { after(fn: () => void): void }) {
  const ends: ServerRequestEvent[] = [];
  let notify: (() => void) | undefined;
  const start = (e: ServerRequestEvent) => {
    e.metadata.traceparent = 'from-start';
  };
  const end = (e: ServerRequestEvent) => {
    ends.push(e);
    notify?.();
  };
  exchangeChannels.serverRequestStart.subscribe(start);
  exchangeChannels.serverRequestEnd.subscribe(end);
  t.after(() => {
    exchangeChannels.serverRequestStart.unsubscribe(start);
    exchangeChannels.serverRequestEnd.unsubscribe(end);
  });
  const ended = (count: number) =>
    new Promise<void>((resolve) => {
      if (ends.length >= count) resolve();
      else notify = () => ends.length >= count && resolve();
    });
  return { ends, ended };
}

describe('server request events', () => {
  it('the node kit publishes each request with its status; the handler’s context gets the start’s metadata', async (t) => {
    const { ends, ended } = record(t);
    let seen: string | undefined;
    const server = httpServer({
      service: 'users',
      shutdown: { signals: false, exit: false },
      handler: (req, ctx) => {
        seen = metadataText(ctx.metadata, 'traceparent');
        return req.path === '/missing' ? { status: 404, body: 'no' } : { body: { ok: true } };
      },
    });
    const { port } = await server.listen();
    t.after(() => server.shutdown());

    await (await fetch(`http://127.0.0.1:${port}/users/1`, { headers: { 'x-request-id': 'r-1' } })).text();
    await (await fetch(`http://127.0.0.1:${port}/missing`)).text();
    await ended(2);

    assert.equal(seen, 'from-start');
    assert.deepEqual(
      ends.map((e) => [e.protocol, e.service, e.method, e.route, e.status]),
      [
        ['http', 'users', 'GET', undefined, 200],
        ['http', 'users', 'GET', undefined, 404],
      ],
    );
    assert.equal(ends[0]!.requestId, 'r-1');
    assert.ok(ends[0]!.durationMs >= 0);
  });

  it('reports a client that went away before the answer as 499 with an error', async (t) => {
    const { ends, ended } = record(t);
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const server = httpServer({
      service: 'users',
      shutdown: { signals: false, exit: false },
      handler: async () => {
        arrived();
        await held;
        return { body: 'late' };
      },
    });
    const { port } = await server.listen();
    t.after(() => server.shutdown());

    const req = request({ host: '127.0.0.1', port, path: '/slow' });
    req.on('error', () => {});
    req.end();
    await arrival;
    req.destroy();
    await ended(1);
    release();

    assert.equal(ends[0]!.status, 499);
    assert.ok(ends[0]!.error instanceof Error);
  });

  it('Fastify reports its route template, never the raw path', async (t) => {
    const { ends, ended } = record(t);
    const app = Fastify();
    await app.register(meshkitFastify, { service: 'users', shutdown: { signals: false, exit: false } });
    app.get('/users/:id', async (request) => ({ id: (request.params as { id: string }).id }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    t.after(() => app.close());
    const { port } = app.server.address() as { port: number };

    await (await fetch(`http://127.0.0.1:${port}/users/42`)).text();
    await ended(1);

    assert.deepEqual([ends[0]!.route, ends[0]!.status, ends[0]!.service], ['/users/:id', 200, 'users']);
  });
});
