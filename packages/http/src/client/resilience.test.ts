import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { createContext, ErrorCode, MeshError, metadataText } from '@meshkit/core';
import { staticRegistry } from '@meshkit/discovery';
import { constantBackoff } from '@meshkit/policies';
import { httpServer } from '../server/node-server.ts';
import { loopback } from '../test-support/loopback.ts';
import { httpClient } from './client.ts';

const noWait = { backoff: constantBackoff(0) };

/** Runs `total` calls with `concurrency` in flight; returns how many succeeded and the failures. */
async function load(
  total: number,
  concurrency: number,
  call: (i: number) => Promise<unknown>,
  onProgress?: (done: number) => void,
) {
  let next = 0;
  let done = 0;
  const failures: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      try {
        await call(i);
      } catch (error) {
        failures.push(error);
      }
      onProgress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok: total - failures.length, failures };
}

describe('deadline propagation', () => {
  it('carries the deadline and trace headers over two hops, each hop starting with what is left', async () => {
    const seen: Record<string, { remaining: number; traceparent: string | undefined }> = {};
    const c = httpServer({
      service: 'c',
      shutdown: { signals: false, exit: false },
      handler: (_req, ctx) => {
        seen.c = { remaining: ctx.remainingMs(), traceparent: metadataText(ctx.metadata, 'traceparent') };
        return { body: { from: 'c' } };
      },
    });
    const cPort = (await c.listen()).port;
    const toC = httpClient({ service: 'c', endpoints: [`127.0.0.1:${cPort}`] });
    const b = httpServer({
      service: 'b',
      shutdown: { signals: false, exit: false },
      handler: async (_req, ctx) => {
        seen.b = { remaining: ctx.remainingMs(), traceparent: metadataText(ctx.metadata, 'traceparent') };
        // Spend some of the budget, so the next hop must see less.
        await new Promise((resolve) => setTimeout(resolve, 30));
        return { body: await toC.get('/', { ctx }) };
      },
    });
    const bPort = (await b.listen()).port;
    const toB = httpClient({
      service: 'b',
      endpoints: [`127.0.0.1:${bPort}`],
      policies: { deadlineMs: 60_000, attemptTimeoutMs: false },
    });
    try {
      const ctx = createContext({
        timeoutMs: 800,
        metadata: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      });
      assert.deepEqual(await toB.get('/', { ctx }), { from: 'c' });
      assert.ok(seen.b !== undefined && seen.c !== undefined);
      assert.ok(seen.b.remaining <= 800 && seen.b.remaining > 0, `b saw ${seen.b.remaining}`);
      // b spent ~30 ms; whole-millisecond headers and timer granularity may round a few ms either way.
      assert.ok(
        seen.c.remaining <= seen.b.remaining - 20,
        `c saw ${seen.c.remaining}, b saw ${seen.b.remaining}`,
      );
      assert.equal(seen.c.traceparent, ctx.metadata.traceparent);
      assert.equal(seen.b.traceparent, ctx.metadata.traceparent);
    } finally {
      await toB.close();
      await toC.close();
      await b.shutdown();
      await c.shutdown();
    }
  });

  it('an expired budget upstream stops at the next hop with ERR_DEADLINE_EXCEEDED, never retried', async () => {
    let calls = 0;
    const s = httpServer({
      service: 's',
      shutdown: { signals: false, exit: false },
      handler: () => {
        calls++;
        return {};
      },
    });
    const { port } = await s.listen();
    const raw = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-meshkit-timeout-ms': '0' } });
    assert.equal(raw.status, 504);
    await raw.body?.cancel();
    const client = httpClient({
      service: 's',
      endpoints: [`127.0.0.1:${port}`],
      policies: { retry: noWait },
    });
    const ctx = createContext({ timeoutMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const error = await client.get('/', { ctx }).catch((e: unknown) => e);
    assert.ok(error instanceof MeshError && error.code === ErrorCode.DEADLINE_EXCEEDED, String(error));
    assert.equal(calls, 0);
    await client.close();
    await s.shutdown();
  });
});

describe('the retry budget under an outage', () => {
  it('adds at most 20% requests on top of the calls, plus the per-second allowance as it accrues', async () => {
    // Every request fails with a retryable 503; nothing but the budget stops retries (3 attempts each).
    const upstream = await loopback((_req, res) => {
      res.writeHead(503).end();
    });
    const client = httpClient({
      service: 'down',
      endpoints: [upstream.address],
      policies: { retry: { ...noWait, maxAttempts: 3 }, breaker: false },
      balance: { outlierDetection: false },
    });
    try {
      const started = performance.now();
      const calls = 2_000;
      const result = await load(calls, 16, () => client.get('/'));
      const seconds = (performance.now() - started) / 1000;
      assert.equal(result.ok, 0);
      const requests = upstream.requests.length;
      // docs/policies.md: retries <= 20% of calls + max(1, 10) saved + 10 per second elapsed.
      const bound = calls * 1.2 + 10 + 10 * seconds;
      assert.ok(requests <= bound, `${requests} requests for ${calls} calls (bound ${bound.toFixed(0)})`);
      assert.ok(requests >= calls * 1.2 - 1, `the budget was spent: ${requests} requests`);
    } finally {
      await client.close();
      await upstream.close();
    }
  });
});

describe('graceful shutdown under load', () => {
  it('SIGTERM on one of two instances loses no request: every POST is performed exactly once', async () => {
    const registry = staticRegistry();
    const performed = new Map<string, number>();
    const signals = [new EventEmitter(), new EventEmitter()];
    const exits: number[] = [];
    const servers = signals.map((emitter) =>
      httpServer({
        service: 'orders',
        registry,
        shutdown: { signals: emitter, exit: (code) => exits.push(code), graceMs: 200, drainTimeoutMs: 5_000 },
        handler: async (req) => {
          const { id } = (await req.json()) as { id: string };
          performed.set(id, (performed.get(id) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, 2));
          return { status: 201, body: { id } };
        },
      }),
    );
    for (const server of servers) await server.listen();
    const client = httpClient({
      service: 'orders',
      registry,
      policies: { retry: { ...noWait, maxAttempts: 5 } },
    });
    try {
      const result = await load(
        400,
        16,
        (i) => client.post('/orders', { id: `o-${i}` }),
        (done) => {
          if (done === 100) signals[0]!.emit('SIGTERM');
        },
      );
      assert.deepEqual(result.failures.map(String), []);
      assert.equal(result.ok, 400);
      assert.equal(performed.size, 400);
      assert.ok(
        [...performed.values()].every((n) => n === 1),
        'no order was performed twice',
      );
      while (exits.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.deepEqual(exits, [0]);
      assert.equal((await registry.lookup('orders')).length, 1);
    } finally {
      await client.close();
      await servers[1]!.shutdown();
      await registry.close();
    }
  });
});

describe('graceful shutdown without a grace period', () => {
  it('loses no idempotent call: refusals and cut keep-alive connections are retried on the other instance', async () => {
    const registry = staticRegistry();
    const servers = [0, 1].map((n) =>
      httpServer({
        service: 'users',
        registry,
        shutdown: { signals: false, exit: false, graceMs: 0 },
        handler: async () => {
          await new Promise((resolve) => setTimeout(resolve, 2));
          return { body: { n } };
        },
      }),
    );
    for (const server of servers) await server.listen();
    const client = httpClient({
      service: 'users',
      registry,
      policies: { retry: { ...noWait, maxAttempts: 5 } },
    });
    try {
      let stopping: Promise<void> | undefined;
      const result = await load(
        400,
        16,
        () => client.get('/users/1'),
        (done) => {
          if (done === 100) stopping = servers[0]!.shutdown();
        },
      );
      await stopping;
      assert.deepEqual(result.failures.map(String), []);
      assert.equal(servers[0]!.inFlight, 0);
    } finally {
      await client.close();
      await servers[1]!.shutdown();
      await registry.close();
    }
  });
});

describe('failover', () => {
  it('keeps answering when an endpoint dies mid-load, and ejects it', async () => {
    const servers = await Promise.all(
      [0, 1, 2].map(async (n) => {
        const s = httpServer({
          service: 'users',
          shutdown: { signals: false, exit: false, drainTimeoutMs: 0 },
          handler: () => ({ body: { n } }),
        });
        const { port } = await s.listen();
        return { s, address: `127.0.0.1:${port}` };
      }),
    );
    const client = httpClient({
      service: 'users',
      endpoints: servers.map((x) => x.address),
      policies: { retry: { ...noWait, maxAttempts: 4 } },
    });
    try {
      const result = await load(
        600,
        16,
        () => client.get('/users/1'),
        (done) => {
          // Abrupt death: connections cut, nothing deregistered, the address stays in the list.
          if (done === 150) {
            servers[0]!.s.server.closeAllConnections();
            servers[0]!.s.server.close();
          }
        },
      );
      assert.deepEqual(result.failures.map(String), []);
      const dead = (
        client.describe().balancer as {
          endpoints: { address: string; ejected: boolean; readiness: string }[];
        }
      ).endpoints.find((e) => e.address === servers[0]!.address);
      assert.ok(
        dead !== undefined && (dead.ejected || dead.readiness === 'closed'),
        `dead endpoint still in use: ${JSON.stringify(dead)}`,
      );
    } finally {
      await client.close();
      for (const x of servers) await x.s.shutdown();
    }
  });
});
