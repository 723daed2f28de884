// TLS and mutual TLS on both sides: our client and server, and stock grpc-js on the other side.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { isRetryableCallError } from '@meshkit/client';
import { ErrorCode, MeshError } from '@meshkit/core';
import { generateCerts, type TestCerts } from '@meshkit/testkit';
import { grpcClient } from '../client/client.ts';
import { UserService } from '../gen/user/user_service_pb.ts';
import { stockDefinitions, stockUnary } from '../test-support/stock.ts';
import { memoryUsers } from '../test-support/users.ts';
import { type GrpcServer, grpcServer } from './server.ts';

const once = { policies: { retry: false as const } };

describe('TLS and mutual TLS', () => {
  const { UserService: StockUsers } = stockDefinitions();
  let certs: TestCerts;
  let tls: GrpcServer;
  let mtls: GrpcServer;
  let tlsAddress: string;
  let mtlsAddress: string;
  const closers: (() => Promise<void> | void)[] = [];

  before(async () => {
    certs = generateCerts();
    tls = grpcServer({ tls: { key: certs.serverKey, cert: certs.serverCert } }).add(
      UserService,
      memoryUsers().impl,
    );
    mtls = grpcServer({
      tls: { key: certs.serverKey, cert: certs.serverCert, ca: certs.ca, requireClientCert: true },
    }).add(UserService, memoryUsers().impl);
    tlsAddress = (await tls.listen()).address;
    mtlsAddress = (await mtls.listen()).address;
  });
  after(async () => {
    for (const close of closers) await close();
    await tls.close();
    await mtls.close();
  });

  const client = (address: string, options: Parameters<typeof grpcClient>[1]['tls']) => {
    const c = grpcClient(UserService, { service: 'users', endpoints: [address], tls: options, ...once });
    closers.push(() => c.$close());
    return c;
  };

  it('serves over TLS to a client that trusts the CA', async () => {
    const users = client(tlsAddress, { ca: certs.ca });
    assert.equal((await users.createUser({ email: 'a@b' })).email, 'a@b');
  });

  it('refuses a server certificate the client does not trust', async () => {
    const users = client(tlsAddress, {});
    await assert.rejects(users.createUser({ email: 'a@b' }), (err: unknown) => {
      return (err as { code?: string }).code === ErrorCode.CONNECT;
    });
  });

  it('serves mutual TLS to a client with a certificate signed by the CA', async () => {
    const users = client(mtlsAddress, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    assert.equal((await users.createUser({ email: 'm@tls' })).email, 'm@tls');
  });

  it('reports a refused client certificate as the TLS alert, ERR_CONNECT, as the HTTP client does', async () => {
    // Retries and the breaker on: the alert is neither retried nor counted against the endpoint.
    const users = grpcClient(UserService, {
      service: 'users',
      endpoints: [mtlsAddress],
      tls: { ca: certs.ca },
    });
    closers.push(() => users.$close());
    for (let i = 0; i < 6; i++) {
      const error = await users.createUser({ email: 'a@b' }).catch((e: unknown) => e);
      assert.ok(error instanceof MeshError, String(error));
      assert.equal(error.code, ErrorCode.CONNECT);
      assert.equal(error.retryable, false);
      assert.equal(error.details.tlsAlert, 'certificate_required');
      assert.match(error.message, /requires a client certificate; set tls\.cert and tls\.key/);
    }
    assert.equal(
      isRetryableCallError(
        new MeshError(ErrorCode.CONNECT, 'x', { rejected: true, details: { tlsHandshake: true } }),
      ),
      false,
    );
  });

  it('refuses a client without a certificate, and one with a foreign certificate', async () => {
    const none = client(mtlsAddress, { ca: certs.ca });
    await assert.rejects(none.createUser({ email: 'a@b' }));
    const rogue = client(mtlsAddress, { ca: certs.ca, cert: certs.rogueCert, key: certs.rogueKey });
    await assert.rejects(rogue.createUser({ email: 'a@b' }));
    assert.equal(mtls.inFlight, 0);
  });

  it('serves mutual TLS to a stock grpc-js client', async () => {
    const stock = new StockUsers(
      mtlsAddress,
      grpc.credentials.createSsl(
        Buffer.from(certs.ca),
        Buffer.from(certs.clientKey),
        Buffer.from(certs.clientCert),
      ),
    );
    closers.push(() => stock.close());
    const { response } = await stockUnary(stock, 'createUser', { email: 'stock@tls', name: 'S' });
    assert.equal((response as { email: string }).email, 'stock@tls');
  });

  it('calls a stock grpc-js server that requires client certificates', async () => {
    const server = new grpc.Server();
    server.addService(StockUsers.service, {
      getUser: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { id: call.request.id, createdAt: '0' }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        '127.0.0.1:0',
        grpc.ServerCredentials.createSsl(
          Buffer.from(certs.ca),
          [{ private_key: Buffer.from(certs.serverKey), cert_chain: Buffer.from(certs.serverCert) }],
          true,
        ),
        (err, p) => (err === null ? resolve(p) : reject(err)),
      ),
    );
    closers.push(() => server.forceShutdown());
    const users = client(`127.0.0.1:${port}`, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    assert.equal((await users.getUser({ id: 'x' })).id, 'x');
    const anonymous = client(`127.0.0.1:${port}`, { ca: certs.ca });
    await assert.rejects(anonymous.getUser({ id: 'x' }));
  });
});
