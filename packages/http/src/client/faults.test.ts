import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { completionOf, ErrorCode, MeshError } from '@meshkit/core';
import { constantBackoff } from '@meshkit/policies';
import { type FaultServer, faultServer, type HttpFault } from '@meshkit/testkit';
import { httpClient } from './client.ts';

// The client against testkit's faulty servers: each fault ends the call with the error the docs promise,
// retried or not as they say, and leaves no connection behind.

const noWait = { backoff: constantBackoff(0) };

async function withServer(fault: HttpFault, run: (server: FaultServer) => Promise<void>): Promise<void> {
  const server = await faultServer(fault);
  try {
    await run(server);
  } finally {
    await server.close();
  }
}

function codeOf(error: unknown): string {
  assert.ok(error instanceof MeshError, `expected a MeshError, got ${String(error)}`);
  return error.code;
}

/** Waits until every connection the server accepted is closed (the client released its socket). */
async function released(server: FaultServer): Promise<void> {
  while (server.closedConnections() < server.connections()) await new Promise((r) => setImmediate(r));
}

describe('httpClient under injected faults', () => {
  it('slow headers: the attempt timeout ends each attempt, and they are retried', async () => {
    await withServer({ kind: 'slow-headers', delayMs: 5_000 }, async (server) => {
      const client = httpClient({
        service: 'f',
        endpoints: [server.address],
        policies: { attemptTimeoutMs: 100, retry: { ...noWait, maxAttempts: 2 }, breaker: false },
      });
      try {
        assert.equal(codeOf(await client.get('/').catch((e: unknown) => e)), ErrorCode.TIMEOUT);
        assert.equal(server.requests(), 2);
      } finally {
        await client.close();
      }
    });
  });

  it('slow body: the attempt timeout covers the download of a buffered body', async () => {
    await withServer({ kind: 'slow-body', body: 'x'.repeat(100), intervalMs: 50 }, async (server) => {
      const client = httpClient({
        service: 'f',
        endpoints: [server.address],
        policies: { attemptTimeoutMs: 200, retry: false },
      });
      try {
        assert.equal(codeOf(await client.get('/').catch((e: unknown) => e)), ErrorCode.TIMEOUT);
        await released(server);
      } finally {
        await client.close();
      }
    });
  });

  it('reset mid-response: ERR_CONNECTION_RESET, retried for a GET', async () => {
    await withServer({ kind: 'reset-mid-response' }, async (server) => {
      const client = httpClient({
        service: 'f',
        endpoints: [server.address],
        policies: { retry: { ...noWait, maxAttempts: 3 }, breaker: false },
      });
      try {
        assert.equal(codeOf(await client.get('/').catch((e: unknown) => e)), ErrorCode.CONNECTION_RESET);
        assert.equal(server.requests(), 3);
      } finally {
        await client.close();
      }
    });
  });

  it('stalled body of a streamed response: ended at the deadline with ERR_DEADLINE_EXCEEDED', async () => {
    await withServer({ kind: 'stalled-body' }, async (server) => {
      const client = httpClient({
        service: 'f',
        endpoints: [server.address],
        policies: { deadlineMs: 1_000, retry: false },
      });
      try {
        const res = await client.request({ method: 'GET', path: '/' });
        const error = await res.body.text().catch((e: unknown) => e);
        assert.equal(codeOf(error), ErrorCode.DEADLINE_EXCEEDED);
        assert.equal(completionOf(res)?.done, true);
        await released(server);
      } finally {
        await client.close();
      }
    });
  });

  describe('oversize body', () => {
    const limit = 64 * 1024;
    for (const declareLength of [true, false]) {
      const how = declareLength ? 'declared in content-length' : 'chunked, counted while reading';
      it(`get(): ${how}, fails with ERR_INVALID_PAYLOAD naming the limit, not retried`, async () => {
        await withServer({ kind: 'oversize-body', bytes: 8 * limit, declareLength }, async (server) => {
          const client = httpClient({
            service: 'f',
            endpoints: [server.address],
            policies: { retry: { ...noWait, maxAttempts: 3 } },
            transport: { maxResponseBytes: limit },
          });
          try {
            const error = await client.get('/').catch((e: unknown) => e);
            assert.equal(codeOf(error), ErrorCode.INVALID_PAYLOAD);
            const mesh = error as MeshError;
            assert.match(mesh.message, /maxResponseBytes \(65536 bytes\)/);
            assert.equal(mesh.details.limit, limit);
            assert.equal(mesh.retryable, false);
            assert.equal(server.requests(), 1, 'not retried');
            await released(server);
          } finally {
            await client.close();
          }
        });
      });

      it(`request(): ${how}, the streamed body fails with the same error`, async () => {
        await withServer({ kind: 'oversize-body', bytes: 8 * limit, declareLength }, async (server) => {
          const client = httpClient({
            service: 'f',
            endpoints: [server.address],
            policies: { retry: false },
            transport: { maxResponseBytes: limit },
          });
          try {
            const error = await client
              .request({ method: 'GET', path: '/' })
              .then((res) => res.body.arrayBuffer())
              .catch((e: unknown) => e);
            assert.equal(codeOf(error), ErrorCode.INVALID_PAYLOAD);
            assert.match((error as MeshError).message, /maxResponseBytes \(65536 bytes\)/);
            await released(server);
          } finally {
            await client.close();
          }
        });
      });
    }

    it('the default limit is 16 MiB: a body declaring 96 MB fails before it is transferred', async () => {
      await withServer({ kind: 'oversize-body', bytes: 96_000_000, declareLength: true }, async (server) => {
        const client = httpClient({ service: 'f', endpoints: [server.address], policies: { retry: false } });
        try {
          const error = await client.get('/').catch((e: unknown) => e);
          assert.equal(codeOf(error), ErrorCode.INVALID_PAYLOAD);
          assert.match(
            (error as MeshError).message,
            /96000000 bytes, over maxResponseBytes \(16777216 bytes\)/,
          );
          await released(server);
        } finally {
          await client.close();
        }
      });
    });

    it('a body within the limit is read whole', async () => {
      await withServer({ kind: 'oversize-body', bytes: limit, declareLength: false }, async (server) => {
        const client = httpClient({
          service: 'f',
          endpoints: [server.address],
          transport: { maxResponseBytes: limit },
        });
        try {
          const text = await client.get('/');
          assert.equal((text as string).length, limit);
        } finally {
          await client.close();
        }
      });
    });
  });
});
