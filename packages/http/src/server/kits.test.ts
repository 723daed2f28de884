import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { type CallContext, ErrorCode, isMeshError } from '@meshkit/core';
import { constantBackoff } from '@meshkit/policies';
import { oversizeUpload, resetMidRequest, slowRequest } from '@meshkit/testkit';
import Fastify from 'fastify';
import { request as undiciRequest } from 'undici';
import { httpClient } from '../client/client.ts';
import type { ConnectionLimitOptions } from './connection-limits.ts';
import { meshkitFastify } from './fastify.ts';
import { type IdempotencyStore, memoryIdempotencyStore } from './idempotency.ts';
import { httpServer } from './node-server.ts';
import type { ServerLayer } from './server-stack.ts';

// Every guarantee of the service-side kit, run against both adapters: the node kit and the Fastify plugin.

interface Handled {
  readonly status: number;
  readonly body: unknown;
}
type TestHandler = (req: { path: string; method: string }, ctx: CallContext) => Promise<Handled>;

interface KitOptions {
  readonly handler: TestHandler;
  readonly store?: IdempotencyStore;
  readonly limits?: ConnectionLimitOptions;
  readonly maxBodyBytes?: number;
  readonly layers?: readonly ServerLayer[];
}

interface RunningKit {
  readonly address: string;
  readonly base: string;
  /** Requests the HTTP server received so far, answered by a handler or not. */
  readonly received: () => number;
  close(): Promise<void>;
}

const kits: Record<string, (options: KitOptions) => Promise<RunningKit>> = {
  'node kit': async (options) => {
    const server = httpServer({
      service: 'kit',
      shutdown: { signals: false, exit: false, drainTimeoutMs: 0 },
      limits: {
        ...options.limits,
        ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
      },
      ...(options.store === undefined ? {} : { idempotency: { store: options.store } }),
      ...(options.layers === undefined ? {} : { layers: options.layers }),
      handler: async (req, ctx) => options.handler({ path: req.path, method: req.method }, ctx),
    });
    const { port } = await server.listen();
    return running(port, server.server, () => server.shutdown());
  },
  'Fastify plugin': async (options) => {
    const app = Fastify(options.maxBodyBytes === undefined ? {} : { bodyLimit: options.maxBodyBytes });
    await app.register(meshkitFastify, {
      service: 'kit',
      shutdown: { signals: false, exit: false, drainTimeoutMs: 0 },
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      ...(options.store === undefined ? {} : { idempotency: { store: options.store } }),
      ...(options.layers === undefined ? {} : { layers: options.layers }),
    });
    app.all('/*', async (request, reply) => {
      const handled = await options.handler(
        { path: request.url.split('?', 1)[0]!, method: request.method },
        request.meshkit,
      );
      reply.code(handled.status);
      return handled.body;
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return running((app.server.address() as { port: number }).port, app.server, () => app.close());
  },
};

function running(port: number, server: Server, close: () => Promise<void>): RunningKit {
  let received = 0;
  server.on('request', () => {
    received++;
  });
  return { address: `127.0.0.1:${port}`, base: `http://127.0.0.1:${port}`, received: () => received, close };
}

const ok: TestHandler = async () => ({ status: 200, body: { ok: true } });

for (const [kit, start] of Object.entries(kits)) {
  describe(`${kit}: the same guarantees on both adapters`, () => {
    it('keeps an idempotency key claimed when the client disconnects mid-handler: one execution, the retry gets the stored answer', async () => {
      let executions = 0;
      let completed = 0;
      let started!: () => void;
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      let disconnected!: () => void;
      const gone = new Promise<void>((resolve) => {
        disconnected = resolve;
      });
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => {
        finish = resolve;
      });
      // The store is watched so the test knows when the retry's claim reached it.
      const store = memoryIdempotencyStore();
      const claims: string[] = [];
      const watched: IdempotencyStore = {
        ...store,
        claim: async (key, fingerprint) => {
          const claim = await store.claim(key, fingerprint);
          claims.push(claim.kind);
          return claim;
        },
      };
      const server = await start({
        store: watched,
        handler: async (req, ctx) => {
          if (req.path !== '/orders') return { status: 404, body: {} };
          executions++;
          ctx.onAbort(() => disconnected());
          started();
          await finished;
          completed++;
          return { status: 201, body: { order: executions } };
        },
      });
      try {
        const post = (signal?: AbortSignal) =>
          fetch(`${server.base}/orders`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': 'key-1' },
            body: '{"sku":"a"}',
            ...(signal === undefined ? {} : { signal }),
          });
        const abort = new AbortController();
        const first = post(abort.signal).catch((e: unknown) => e);
        await running;
        abort.abort();
        assert.ok((await first) instanceof Error, 'the first client went away');
        await gone; // the server saw the disconnect
        // A retry while the work runs is refused before work, not run a second time.
        const during = post();
        for (let i = 0; claims.length < 2 && i < 1_000; i++) await new Promise((r) => setTimeout(r, 5));
        finish();
        const duringReply = await during;
        await duringReply.arrayBuffer();
        assert.deepEqual(claims, ['new', 'in-progress']);
        assert.equal(duringReply.status, 409);
        assert.equal(duringReply.headers.get('x-meshkit-rejected'), '1');
        for (let i = 0; completed === 0 && i < 1_000; i++) await new Promise((r) => setTimeout(r, 5));
        let retry = await post();
        // The store is completed just after the handler returns; a retry in between is told to wait.
        for (let i = 0; retry.status === 409 && i < 1_000; i++) {
          await retry.arrayBuffer();
          await new Promise((r) => setTimeout(r, 5));
          retry = await post();
        }
        assert.equal(retry.status, 201);
        assert.equal(retry.headers.get('idempotent-replayed'), 'true');
        assert.deepEqual(await retry.json(), { order: 1 });
        assert.equal(executions, 1);
      } finally {
        await server.close();
      }
    });

    it('runs the work once per key when httpClient retries after its attempt timeout (handler slower than the attempt)', {
      timeout: 30_000,
    }, async () => {
      let executions = 0;
      const server = await start({
        store: memoryIdempotencyStore(),
        handler: async (req) => {
          if (req.path !== '/orders') return { status: 404, body: {} };
          executions++;
          const order = executions;
          await new Promise((r) => setTimeout(r, 400));
          return { status: 201, body: { order } };
        },
      });
      const client = httpClient({
        service: 'kit',
        endpoints: [server.address],
        autoIdempotencyKey: true,
        policies: {
          attemptTimeoutMs: 150,
          deadlineMs: 20_000,
          retry: { backoff: constantBackoff(50), maxAttempts: 20, maxDelayMs: 100 },
          breaker: false,
        },
      });
      try {
        assert.deepEqual(await client.post('/orders', { sku: 'a' }), { order: 1 });
        assert.deepEqual(await client.post('/orders', { sku: 'b' }), { order: 2 });
        assert.equal(executions, 2, 'one execution per key');
      } finally {
        await client.close();
        await server.close();
      }
    });

    it('answers slow headers with a 408 problem and closes the connection', { timeout: 30_000 }, async () => {
      let handled = 0;
      const server = await start({
        limits: { requestTimeoutMs: 600 },
        handler: async () => {
          handled++;
          return { status: 200, body: {} };
        },
      });
      try {
        const outcome = await slowRequest(server.address, {
          head: 'GET / HTTP/1.1\r\nhost: x\r\n',
          trickle: 'x-slow: aaaaaaaaaaaaaaa\r\n',
          boundMs: 15_000,
        });
        assert.equal(outcome.serverClosed, true, 'the server cut the slow client off');
        assert.match(outcome.text, /^HTTP\/1.1 408 /);
        assert.match(outcome.text, /content-type: application\/problem\+json/i);
        assert.match(outcome.text, /"status":408/);
        assert.equal(handled, 0);
      } finally {
        await server.close();
      }
    });

    it('answers a slow body with a 408 problem and closes the connection', { timeout: 30_000 }, async () => {
      let handled = 0;
      const server = await start({
        limits: { requestTimeoutMs: 600 },
        handler: async () => {
          handled++;
          return { status: 200, body: {} };
        },
      });
      try {
        const outcome = await slowRequest(server.address, {
          head: 'POST /orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n',
          trickle: ' ',
          boundMs: 15_000,
        });
        assert.equal(outcome.serverClosed, true, 'the server cut the slow client off');
        assert.match(outcome.text, /^HTTP\/1.1 408 /);
        assert.match(outcome.text, /application\/problem\+json/i);
        assert.equal(handled, 0);
      } finally {
        await server.close();
      }
    });

    it('answers a stalled body (headers, then nothing) with a 408 problem and closes the connection', {
      timeout: 30_000,
    }, async () => {
      let handled = 0;
      const server = await start({
        limits: { requestTimeoutMs: 600 },
        handler: async () => {
          handled++;
          return { status: 200, body: {} };
        },
      });
      try {
        // One byte would come after the client's bound: nothing after the head reaches the server.
        const outcome = await slowRequest(server.address, {
          head: 'POST /orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n',
          trickle: ' ',
          intervalMs: 20_000,
          boundMs: 15_000,
        });
        assert.equal(outcome.serverClosed, true, 'the server cut the stalled client off');
        assert.match(outcome.text, /^HTTP\/1.1 408 /);
        assert.equal(handled, 0);
      } finally {
        await server.close();
      }
    });

    it('keeps serving after clients reset their connections mid-upload', { timeout: 30_000 }, async () => {
      const server = await start({ handler: ok });
      try {
        for (let i = 0; i < 5; i++) {
          const outcome = await resetMidRequest(server.address, { bytes: 2_000, path: '/orders' });
          assert.equal(outcome.text, '', 'nothing was answered to a request cut off mid-body');
        }
        const res = await undiciRequest(`${server.base}/after`);
        assert.equal(res.statusCode, 200);
        assert.deepEqual(await res.body.json(), { ok: true });
      } finally {
        await server.close();
      }
    });

    it('delivers the 413 to a client still uploading (no reset wipes it), every time', {
      timeout: 60_000,
    }, async () => {
      let handled = 0;
      const server = await start({
        maxBodyBytes: 1_000,
        handler: async () => {
          handled++;
          return { status: 200, body: {} };
        },
      });
      try {
        const statuses: string[] = [];
        for (let i = 0; i < 8; i++) {
          const outcome = await oversizeUpload(server.address, { bytes: 4_000_000, path: '/orders' });
          // The answer arrives, and the connection ends without a reset the client would see instead.
          statuses.push(`${outcome.text.slice(0, 12) || 'nothing'} ${outcome.errorCode ?? 'clean'}`);
        }
        for (let i = 0; i < 4; i++) {
          const res = await undiciRequest(`${server.base}/orders`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: Buffer.alloc(8_000_000, 0x20),
          }).catch((e: NodeJS.ErrnoException) => ({ statusCode: e.code ?? e.message, body: undefined }));
          statuses.push(String(res.statusCode));
          if (res.body !== undefined) {
            const problem = (await res.body.json()) as { status: number; field: string };
            assert.equal(problem.field, 'body');
          }
        }
        assert.deepEqual(statuses, [...Array(8).fill('HTTP/1.1 413 clean'), ...Array(4).fill('413')]);
        assert.equal(handled, 0);
        const after = await fetch(`${server.base}/after`);
        assert.equal(after.status, 200, 'the server still serves');
      } finally {
        await server.close();
      }
    });

    it('answers an oversize upload from httpClient with a 413 it does not retry, even with an Idempotency-Key', {
      timeout: 30_000,
    }, async () => {
      const server = await start({ maxBodyBytes: 1_000, store: memoryIdempotencyStore(), handler: ok });
      const client = httpClient({
        service: 'kit',
        endpoints: [server.address],
        autoIdempotencyKey: true,
        policies: { retry: { backoff: constantBackoff(0), maxAttempts: 3 }, breaker: false },
      });
      try {
        const before = server.received();
        await assert.rejects(
          client.post('/orders', { pad: 'x'.repeat(4_000_000) }),
          (e: unknown) =>
            isMeshError(e) && e.code === ErrorCode.HTTP_STATUS && e.details.status === 413 && !e.retryable,
        );
        assert.equal(server.received() - before, 1, 'sent once');
      } finally {
        await client.close();
        await server.close();
      }
    });

    it('answers headers too large, too many and malformed with problem documents (431, 431, 400)', async () => {
      const server = await start({ handler: ok });
      try {
        const big = await rawRequest(
          server.address,
          `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
        );
        assert.match(big, /^HTTP\/1.1 431 /);
        assert.match(big, /application\/problem\+json/);
        const lines = (n: number) => Array.from({ length: n }, (_, i) => `x-h${i}: a\r\n`).join('');
        // 100 header lines in all (host, connection and 98 more) pass; 101 are refused.
        const hundred = await rawRequest(
          server.address,
          `GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${lines(98)}\r\n`,
        );
        assert.match(hundred, /^HTTP\/1.1 200 /);
        const tooMany = await rawRequest(
          server.address,
          `GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${lines(99)}\r\n`,
        );
        assert.match(tooMany, /^HTTP\/1.1 431 /);
        assert.match(tooMany, /application\/problem\+json/);
        const bad = await rawRequest(server.address, 'GET / HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n');
        assert.match(bad, /^HTTP\/1.1 400 /);
        assert.match(bad, /application\/problem\+json/);
        assert.match(bad, /malformed request/);
      } finally {
        await server.close();
      }
    });

    it('runs user layers after its own steps, in order, around the handler', async () => {
      const seen: string[] = [];
      const tag = (name: string): ServerLayer => ({
        name,
        wrap: (next) => async (call, ctx) => {
          seen.push(`${name}:${call.method} ${call.path}`);
          const reply = await next(call, ctx);
          return { ...reply, headers: { ...reply.headers, [`x-${name}`]: String(reply.status) } };
        },
      });
      const server = await start({
        store: memoryIdempotencyStore(),
        layers: [tag('outer'), tag('inner')],
        handler: async (_req, ctx) => ({ status: 201, body: { remaining: ctx.deadline !== undefined } }),
      });
      try {
        const post = () =>
          fetch(`${server.base}/things`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'idempotency-key': 'k',
              'x-meshkit-timeout-ms': '5000',
            },
            body: '{}',
          });
        const first = await post();
        assert.equal(first.status, 201);
        assert.equal(first.headers.get('x-outer'), '201');
        assert.equal(first.headers.get('x-inner'), '201');
        assert.deepEqual(
          await first.json(),
          { remaining: true },
          'the deadline layer ran before the handler',
        );
        const replay = await post();
        await replay.arrayBuffer();
        assert.equal(replay.headers.get('idempotent-replayed'), 'true');
        const health = await fetch(`${server.base}/healthz`);
        assert.equal(health.status, 200);
        const expired = await fetch(`${server.base}/things`, { headers: { 'x-meshkit-timeout-ms': '0' } });
        assert.equal(expired.status, 504);
        // The replay, the health check and the expired call were answered before the user's layers.
        assert.deepEqual(seen, ['outer:POST /things', 'inner:POST /things']);
      } finally {
        await server.close();
      }
    });
  });
}

/** Sends raw bytes and returns everything the server wrote before closing (bounded to 5 s). */
function rawRequest(address: string, bytes: string): Promise<string> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((resolve) => {
    const socket = connect(Number(port), host);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), 5_000);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    socket.write(bytes);
  });
}
