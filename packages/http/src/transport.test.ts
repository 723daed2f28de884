import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createContext,
  ErrorCode,
  FakeClock,
  InvalidArgumentError,
  isAbortError,
  MeshError,
} from '@meshkit/core';
import { faultServer } from '@meshkit/testkit';
import { deadPort, type Loopback, loopback, readText } from './test-support/loopback.ts';
import { httpTransport } from './transport.ts';
import type { HttpResponse, HttpResponseBody } from './types.ts';

function streamOf(res: HttpResponse): HttpResponseBody {
  assert.ok(res.body !== undefined, 'a request without buffer gets a body stream');
  return res.body;
}

function assertMeshError(error: unknown, code: string): MeshError {
  assert.ok(error instanceof MeshError, `expected a MeshError, got ${String(error)}`);
  assert.equal(error.code, code);
  return error;
}

describe('httpTransport', () => {
  let server: Loopback;
  before(async () => {
    server = await loopback(async (req, res) => {
      const body = await readText(req);
      switch (req.url) {
        case '/echo':
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ method: req.method, headers: req.headers, body }));
          return;
        case '/busy':
          res.writeHead(503, { 'retry-after': '2' });
          res.end('x'.repeat(10_000));
          return;
        case '/missing':
          res.writeHead(404);
          res.end('no such user');
          return;
        case '/throttled':
          res.writeHead(429);
          res.end();
          return;
        case '/expired':
          res.writeHead(504, { 'x-meshkit-error': 'ERR_DEADLINE_EXCEEDED', 'x-meshkit-rejected': '1' });
          res.end();
          return;
        case '/reset':
          req.socket.destroy();
          return;
        case '/hang':
          return; // never answers; the client must give up
        default:
          res.end('ok');
      }
    });
  });
  after(() => server.close());

  it('sends metadata, the deadline as time left and the idempotency key as headers', async () => {
    const clock = new FakeClock();
    const t = httpTransport(server.address);
    try {
      const ctx = createContext({
        clock,
        timeoutMs: 1_500,
        metadata: { traceparent: '00-abc-def-01', 'x-request-id': 'r-1' },
        idempotencyKey: 'key-1',
      });
      const res = await t(
        { method: 'POST', path: '/echo', headers: { 'content-type': 'text/plain' }, body: 'hi' },
        ctx,
      );
      assert.equal(res.status, 200);
      const seen = (await streamOf(res).json()) as {
        method: string;
        headers: Record<string, string>;
        body: string;
      };
      assert.equal(seen.method, 'POST');
      assert.equal(seen.body, 'hi');
      assert.equal(seen.headers.traceparent, '00-abc-def-01');
      assert.equal(seen.headers['x-request-id'], 'r-1');
      assert.equal(seen.headers['x-meshkit-timeout-ms'], '1500');
      assert.equal(seen.headers['idempotency-key'], 'key-1');
      assert.equal(seen.headers['content-type'], 'text/plain');
    } finally {
      await t.close();
    }
  });

  it('reuses one keep-alive connection for sequential calls', async () => {
    const local = await loopback((_req, res) => {
      res.end('ok');
    });
    // One connection at most: without keep-alive every call would still open a new one.
    const t = httpTransport(local.address, { connections: 1 });
    try {
      for (let i = 0; i < 5; i++)
        await streamOf(await t({ method: 'GET', path: '/' }, createContext())).text();
      assert.equal(local.requests.length, 5);
      assert.equal(local.connections, 1);
    } finally {
      await t.close();
      await local.close();
    }
  });

  it('maps a refused connection to a retryable ERR_CONNECT that was never sent', async () => {
    const t = httpTransport(await deadPort());
    const error = await t({ method: 'POST', path: '/' }, createContext()).catch((e: unknown) => e);
    const mesh = assertMeshError(error, ErrorCode.CONNECT);
    assert.equal(mesh.retryable, true);
    assert.equal(mesh.rejected, true);
    await t.close();
  });

  it('maps a reset before the response to ERR_CONNECTION_RESET, not marked as unsent', async () => {
    const t = httpTransport(server.address);
    const error = await t({ method: 'GET', path: '/reset' }, createContext()).catch((e: unknown) => e);
    const mesh = assertMeshError(error, ErrorCode.CONNECTION_RESET);
    assert.equal(mesh.retryable, true);
    assert.equal(mesh.rejected, false);
    await t.close();
  });

  it('raises ERR_HTTP_STATUS with status, headers, a bounded excerpt and Retry-After', async () => {
    const t = httpTransport(server.address, { maxErrorBodyBytes: 100 });
    try {
      const busy = assertMeshError(
        await t({ method: 'GET', path: '/busy' }, createContext()).catch((e: unknown) => e),
        ErrorCode.HTTP_STATUS,
      );
      assert.equal(busy.retryable, true);
      assert.equal(busy.details.status, 503);
      assert.equal(busy.details.retryAfterMs, 2_000);
      assert.equal(busy.details.body, 'x'.repeat(100));
      assert.equal((busy.details.headers as Record<string, string>)['retry-after'], '2');

      const missing = assertMeshError(
        await t({ method: 'GET', path: '/missing' }, createContext()).catch((e: unknown) => e),
        ErrorCode.HTTP_STATUS,
      );
      assert.equal(missing.retryable, false);
      assert.equal(missing.details.body, 'no such user');

      const throttled = assertMeshError(
        await t({ method: 'POST', path: '/throttled' }, createContext()).catch((e: unknown) => e),
        ErrorCode.HTTP_STATUS,
      );
      assert.equal(throttled.retryable, true);
      assert.equal(throttled.rejected, true, 'a 429 was refused before any work');

      // The connection survives error responses: the excerpt reader drained the rest of the body.
      assert.equal(await streamOf(await t({ method: 'GET', path: '/' }, createContext())).text(), 'ok');
    } finally {
      await t.close();
    }
  });

  it('honours configured retryable statuses', async () => {
    const t = httpTransport(server.address, { retryableStatuses: [404] });
    const busy = assertMeshError(
      await t({ method: 'GET', path: '/busy' }, createContext()).catch((e: unknown) => e),
      ErrorCode.HTTP_STATUS,
    );
    const missing = assertMeshError(
      await t({ method: 'GET', path: '/missing' }, createContext()).catch((e: unknown) => e),
      ErrorCode.HTTP_STATUS,
    );
    assert.equal(busy.retryable, false);
    assert.equal(missing.retryable, true);
    await t.close();
  });

  it("surfaces a downstream server's expired-deadline refusal as ERR_DEADLINE_EXCEEDED", async () => {
    const t = httpTransport(server.address);
    const error = assertMeshError(
      await t({ method: 'GET', path: '/expired' }, createContext()).catch((e: unknown) => e),
      ErrorCode.DEADLINE_EXCEEDED,
    );
    assert.equal(error.retryable, false);
    assert.equal(error.rejected, true);
    await t.close();
  });

  it('does not send at all once the deadline has passed', async () => {
    const clock = new FakeClock();
    const ctx = createContext({ clock, timeoutMs: 10 });
    await clock.advance(10);
    const before = server.requests.length;
    const t = httpTransport(server.address);
    const error = assertMeshError(
      await t({ method: 'GET', path: '/' }, ctx).catch((e: unknown) => e),
      ErrorCode.DEADLINE_EXCEEDED,
    );
    assert.equal(error.rejected, true);
    assert.equal(server.requests.length, before);
    await t.close();
  });

  it('enforces the deadline on its own when nothing else can cancel the call', async () => {
    const t = httpTransport(server.address);
    const ctx = createContext({ timeoutMs: 50 });
    assert.equal(ctx.cancellable, false);
    const error = await t({ method: 'GET', path: '/hang' }, ctx).catch((e: unknown) => e);
    assertMeshError(error, ErrorCode.DEADLINE_EXCEEDED);
    await t.destroy();
  });

  it('ends a buffered body that stalls after the headers at the deadline, on its own', async () => {
    const stalled = await faultServer({ kind: 'stalled-body' });
    const t = httpTransport(stalled.address);
    try {
      const clock = new FakeClock();
      const ctx = createContext({ clock, timeoutMs: 1_000 });
      assert.equal(ctx.cancellable, false);
      let settled: unknown = 'pending';
      const outcome = t({ method: 'GET', path: '/', buffer: true }, ctx).then(
        () => 'answered',
        (e: unknown) => e,
      );
      void outcome.then((value) => {
        settled = value;
      });
      while (stalled.requests() === 0) await new Promise((resolve) => setImmediate(resolve));
      await clock.advance(999);
      // The deadline has not passed; the headers reach undici in a few turns of the event loop.
      for (let i = 0; i < 50 && settled === 'pending'; i++)
        await new Promise((resolve) => setImmediate(resolve));
      assert.equal(settled, 'pending', 'still inside the deadline');
      await clock.advance(1);
      for (let i = 0; i < 50 && settled === 'pending'; i++)
        await new Promise((resolve) => setImmediate(resolve));
      assert.notEqual(settled, 'pending', 'ended at the deadline');
      assertMeshError(await outcome, ErrorCode.DEADLINE_EXCEEDED);
    } finally {
      await t.destroy();
      await stalled.close();
    }
  });

  it('aborts the request when the context is cancelled, surfacing an AbortError', async () => {
    const t = httpTransport(server.address);
    const { ctx, cancel } = createContext().withCancel();
    const seen = server.requests.length;
    const pending = t({ method: 'GET', path: '/hang' }, ctx);
    while (server.requests.length === seen) await new Promise((resolve) => setImmediate(resolve));
    const socket = server.requests[seen]!.socket;
    const closed = new Promise((resolve) => socket.once('close', resolve));
    cancel(new Error('caller left'));
    const error = await pending.catch((e: unknown) => e);
    assert.ok(isAbortError(error), `expected AbortError, got ${String(error)}`);
    await closed; // the server saw the request go away
    await t.close();
  });

  it('passes a policy’s MeshError abort reason through unchanged', async () => {
    const t = httpTransport(server.address);
    const { ctx, cancel } = createContext().withCancel();
    const reason = new MeshError(ErrorCode.TIMEOUT, 'attempt timed out', { retryable: true });
    const pending = t({ method: 'GET', path: '/hang' }, ctx);
    setImmediate(() => cancel(reason));
    assert.equal(await pending.catch((e: unknown) => e), reason);
    await t.destroy();
  });

  it('buffers a whole exchange without a stream, keeping error bodies bounded and the connection', async () => {
    const local = await loopback((req, res) => {
      if (req.url === '/big-error') {
        res.writeHead(500);
        res.end('e'.repeat(200_000));
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        res.socket?.destroy();
      } else res.end('whole body');
    });
    const t = httpTransport(local.address, { maxErrorBodyBytes: 10, connections: 1 });
    try {
      const ok = await t({ method: 'GET', path: '/', buffer: true }, createContext());
      assert.equal(ok.text, 'whole body');
      assert.equal(ok.body, undefined);
      const error = assertMeshError(
        await t({ method: 'GET', path: '/big-error', buffer: true }, createContext()).catch(
          (e: unknown) => e,
        ),
        ErrorCode.HTTP_STATUS,
      );
      assert.equal(error.details.body, 'eeeeeeeeee');
      assert.equal(error.retryable, true);
      const cut = assertMeshError(
        await t({ method: 'GET', path: '/cut', buffer: true }, createContext()).catch((e: unknown) => e),
        ErrorCode.CONNECTION_RESET,
      );
      assert.equal(cut.retryable, true);
      assert.equal((await t({ method: 'GET', path: '/', buffer: true }, createContext())).text, 'whole body');
    } finally {
      await t.destroy();
      await local.close();
    }
  });

  it('cancels a buffered exchange through the context, and one still queued at once', async () => {
    const t = httpTransport(server.address, { connections: 1 });
    const seen = server.requests.length;
    const first = t({ method: 'GET', path: '/hang', buffer: true }, createContext().withCancel().ctx);
    const { ctx, cancel } = createContext().withCancel();
    const queued = t({ method: 'GET', path: '/hang', buffer: true }, ctx);
    while (server.requests.length === seen) await new Promise((resolve) => setImmediate(resolve));
    cancel(new Error('caller left'));
    const error = await queued.catch((e: unknown) => e);
    assert.ok(isAbortError(error), `expected AbortError, got ${String(error)}`);
    assert.equal(server.requests.length, seen + 1, 'the queued request was never sent');
    await t.destroy();
    await first.catch(() => {});
  });

  it('validates options at construction, naming the field', () => {
    assert.throws(
      () => httpTransport('127.0.0.1:1', { connectTimeoutMs: 0 }),
      (e: unknown) => {
        return e instanceof InvalidArgumentError && e.field === 'http.connectTimeoutMs';
      },
    );
    assert.throws(
      () => httpTransport('127.0.0.1:1', { retryableStatuses: [700] }),
      /http.retryableStatuses\[\] must be an integer between 100 and 599/,
    );
    assert.throws(() => httpTransport('ftp://host:21'), /endpoint.address must use http or https/);
    assert.throws(() => httpTransport('127.0.0.1:1', { tls: { cert: 'x' } }), /http.tls.cert and key/);
  });
});
