import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { completionOf, createContext, ErrorCode, FakeClock, MeshError } from '@meshkit/core';
import { httpTransport } from '../transport.ts';
import type { HttpResponseBody } from '../types.ts';
import { httpClient } from './client.ts';

/** A server that sends its headers and a first chunk at once, then holds the body open until told. */
async function stallingServer(): Promise<{
  address: string;
  open: ServerResponse[];
  closed: () => number;
  server: Server;
}> {
  const open: ServerResponse[] = [];
  let closed = 0;
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first;');
    open.push(res);
    req.socket.once('close', () => closed++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { address: `127.0.0.1:${port}`, open, closed: () => closed, server };
}

function endpointsOf(describe: Record<string, unknown>): { inFlight: number }[] {
  return (describe.balancer as { endpoints: { inFlight: number }[] }).endpoints;
}

describe('httpClient: a streamed response is one call until its body is done', () => {
  let peer: Awaited<ReturnType<typeof stallingServer>>;
  before(async () => {
    peer = await stallingServer();
  });
  after(async () => {
    for (const res of peer.open) res.destroy();
    peer.server.closeAllConnections();
    await new Promise((resolve) => peer.server.close(resolve));
  });

  it('aborts a body still streaming at the deadline with ERR_DEADLINE_EXCEEDED', async () => {
    const clock = new FakeClock();
    const client = httpClient({
      service: 'stall',
      endpoints: [peer.address],
      clock,
      policies: { deadlineMs: 250, attemptTimeoutMs: false, retry: false },
    });
    try {
      const res = await client.request({ method: 'GET', path: '/stream' });
      assert.equal(res.status, 200);
      assert.ok(completionOf(res), 'a streamed response carries its completion');
      const text = res.body.text();
      // The headers came before the deadline; the body has not ended when it passes.
      const rejected = assert.rejects(text, (error: unknown) => {
        assert.ok(error instanceof MeshError, `expected a MeshError, got ${String(error)}`);
        assert.equal(error.code, ErrorCode.DEADLINE_EXCEEDED);
        return true;
      });
      await clock.advance(300);
      await rejected;
      assert.equal(completionOf(res)?.done, true);
      assert.equal(endpointsOf(client.describe())[0]?.inFlight, 0);
    } finally {
      await client.close();
    }
  });

  it('aborts a stalled body at a 1 s deadline when the transport is used on its own', async () => {
    // No layer above can cancel this context: only its deadline bounds the call.
    const clock = new FakeClock();
    const transport = httpTransport(peer.address);
    let body: HttpResponseBody | undefined;
    try {
      const ctx = createContext({ clock, timeoutMs: 1_000 });
      assert.equal(ctx.cancellable, false);
      const res = await transport({ method: 'GET', path: '/stream', buffer: false }, ctx);
      body = res.body!;
      const outcome = body.text().then(
        () => 'ended',
        (error: unknown) => error,
      );
      await clock.advance(999);
      assert.equal(body.destroyed, false, 'still inside the deadline');
      await clock.advance(1);
      assert.equal(body.destroyed, true, 'aborted at the deadline');
      const error = await outcome;
      assert.ok(error instanceof MeshError, `expected a MeshError, got ${String(error)}`);
      assert.equal(error.code, ErrorCode.DEADLINE_EXCEEDED);
      assert.equal(completionOf(res)?.done, true);
    } finally {
      body?.destroy();
      await transport.close();
    }
  });

  it('counts the call in flight on its endpoint until the body ends, not when the headers arrive', async () => {
    const clock = new FakeClock();
    const client = httpClient({
      service: 'stall',
      endpoints: [peer.address],
      clock,
      policies: { deadlineMs: 10_000, attemptTimeoutMs: false, retry: false },
    });
    try {
      const before = peer.open.length;
      const res = await client.request({ method: 'GET', path: '/stream' });
      const text = res.body.text();
      assert.equal(endpointsOf(client.describe())[0]?.inFlight, 1);
      assert.equal(completionOf(res)?.done, false);
      peer.open[before]!.end('rest');
      assert.equal(await text, 'first;rest');
      await new Promise<void>((resolve) => completionOf(res)!.onDone(() => resolve()));
      assert.equal(endpointsOf(client.describe())[0]?.inFlight, 0);
    } finally {
      await client.close();
    }
  });

  it('a dumped body ends the call too', async () => {
    const client = httpClient({
      service: 'stall',
      endpoints: [peer.address],
      policies: { attemptTimeoutMs: false, retry: false },
    });
    try {
      const res = await client.request({ method: 'GET', path: '/stream' });
      const done = new Promise<unknown>((resolve) => completionOf(res)!.onDone(resolve));
      res.body.destroy();
      await done;
      assert.equal(endpointsOf(client.describe())[0]?.inFlight, 0);
    } finally {
      await client.close();
    }
  });
});
