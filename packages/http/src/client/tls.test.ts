import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, MeshError } from '@meshkit/core';
import { constantBackoff } from '@meshkit/policies';
import { faultServer, generateCerts, type TestCerts } from '@meshkit/testkit';
import { httpServer, type MeshServer } from '../server/node-server.ts';
import { httpClient } from './client.ts';

const noRetry = { policies: { retry: false as const } };

describe('TLS and mutual TLS', () => {
  let certs: TestCerts;
  let tlsServer: MeshServer;
  let mtlsServer: MeshServer;
  let handled = 0;
  let tlsAddress: string;
  let mtlsAddress: string;

  before(async () => {
    certs = generateCerts();
    const handler = () => {
      handled++;
      return { body: { secure: true } };
    };
    tlsServer = httpServer({
      service: 'tls',
      shutdown: { signals: false, exit: false },
      tls: { cert: certs.serverCert, key: certs.serverKey },
      handler,
    });
    mtlsServer = httpServer({
      service: 'mtls',
      shutdown: { signals: false, exit: false },
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, requestCert: true },
      handler,
    });
    tlsAddress = `127.0.0.1:${(await tlsServer.listen()).port}`;
    mtlsAddress = `127.0.0.1:${(await mtlsServer.listen()).port}`;
  });
  after(async () => {
    await tlsServer.shutdown();
    await mtlsServer.shutdown();
  });

  it('talks TLS to a server whose certificate chains to the given CA, checking the name', async () => {
    const client = httpClient({ service: 'tls', endpoints: [tlsAddress], tls: { ca: certs.ca } });
    assert.deepEqual(await client.get('/'), { secure: true });
    await client.close();
    const named = httpClient({
      service: 'tls',
      endpoints: [tlsAddress],
      tls: { ca: certs.ca, servername: 'localhost' },
    });
    assert.deepEqual(await named.get('/'), { secure: true });
    await named.close();
  });

  it('refuses a server it cannot verify, before sending anything', async () => {
    const before = handled;
    const untrusted = httpClient({ service: 'tls', endpoints: [tlsAddress], tls: {}, ...noRetry });
    const error = await untrusted.get('/').catch((e: unknown) => e);
    assert.ok(error instanceof MeshError && error.code === ErrorCode.CONNECT, String(error));
    assert.equal(error.rejected, true);
    await untrusted.close();
    const wrongName = httpClient({
      service: 'tls',
      endpoints: [tlsAddress],
      tls: { ca: certs.ca, servername: 'other.example' },
      ...noRetry,
    });
    const mismatch = await wrongName.get('/').catch((e: unknown) => e);
    assert.ok(mismatch instanceof MeshError && mismatch.code === ErrorCode.CONNECT, String(mismatch));
    await wrongName.close();
    assert.equal(handled, before);
  });

  it('presents a client certificate for mutual TLS', async () => {
    const client = httpClient({
      service: 'mtls',
      endpoints: [mtlsAddress],
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
    });
    assert.deepEqual(await client.get('/'), { secure: true });
    await client.close();
  });

  it('reports a refused client certificate as the TLS alert, ERR_CONNECT, not retried', async () => {
    const before = handled;
    const client = httpClient({
      service: 'mtls',
      endpoints: [mtlsAddress],
      tls: { ca: certs.ca },
      policies: { retry: { maxAttempts: 3, backoff: constantBackoff(0) } },
    });
    try {
      const error = await client.get('/').catch((e: unknown) => e);
      assert.ok(error instanceof MeshError, String(error));
      assert.equal(error.code, ErrorCode.CONNECT);
      assert.equal(error.retryable, false);
      assert.equal(error.details.tlsAlert, 'certificate_required');
      assert.match(error.message, /requires a client certificate; set tls\.cert and tls\.key/);
      // Not the endpoint's failure: past the breaker's 5 consecutive failures it still says what to fix.
      for (let i = 0; i < 6; i++) {
        const again = await client.get('/').catch((e: unknown) => e);
        assert.ok(again instanceof MeshError && again.code === ErrorCode.CONNECT, String(again));
      }
    } finally {
      await client.close();
    }
    assert.equal(handled, before, 'no request reached the handler');
  });

  it("tries a refused handshake once: no retries against testkit's refusing TLS server", async () => {
    const server = await faultServer(
      { kind: 'ok' },
      { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca } },
    );
    const client = httpClient({
      service: 'mtls',
      endpoints: [server.address],
      tls: { ca: certs.ca },
      policies: { retry: { maxAttempts: 3, backoff: constantBackoff(0) } },
    });
    try {
      const error = await client.get('/').catch((e: unknown) => e);
      assert.ok(error instanceof MeshError && error.code === ErrorCode.CONNECT, String(error));
      assert.equal(server.refusedHandshakes(), 1);
      assert.equal(server.requests(), 0);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('is refused by the mTLS server without a client certificate or with one from another CA', async () => {
    const before = handled;
    for (const tls of [{ ca: certs.ca }, { ca: certs.ca, cert: certs.rogueCert, key: certs.rogueKey }]) {
      const client = httpClient({ service: 'mtls', endpoints: [mtlsAddress], tls, ...noRetry });
      const error = await client.get('/').catch((e: unknown) => e);
      assert.ok(
        error instanceof MeshError &&
          (error.code === ErrorCode.CONNECT || error.code === ErrorCode.CONNECTION_RESET),
        String(error),
      );
      await client.close();
    }
    assert.equal(handled, before, 'no request reached the handler');
  });
});
