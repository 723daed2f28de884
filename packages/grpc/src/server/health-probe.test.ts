// The registry's gRPC health probe (@meshkit/discovery) against our server, in cleartext and over TLS.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { staticEndpoint } from '@meshkit/core';
import { grpcProbe } from '@meshkit/discovery';
import { generateCerts, type TestCerts } from '@meshkit/testkit';
import { UserService } from '../gen/user/user_service_pb.ts';
import { memoryUsers } from '../test-support/users.ts';
import { type GrpcServer, grpcServer } from './server.ts';

describe('grpc.health.v1 probed by discovery', () => {
  let certs: TestCerts;
  let plain: GrpcServer;
  let secure: GrpcServer;
  let plainAddress: string;
  let secureAddress: string;
  const signal = new AbortController().signal;

  before(async () => {
    certs = generateCerts();
    plain = grpcServer().add(UserService, memoryUsers().impl);
    secure = grpcServer({
      tls: { key: certs.serverKey, cert: certs.serverCert, ca: certs.ca, requireClientCert: true },
    }).add(UserService, memoryUsers().impl);
    plainAddress = (await plain.listen()).address;
    secureAddress = (await secure.listen()).address;
  });
  after(async () => {
    await plain.close();
    await secure.close();
  });

  it('passes while serving and fails once a service is NOT_SERVING', async () => {
    const probe = grpcProbe({ service: 'user.UserService' });
    const endpoint = staticEndpoint({ id: 'p', address: plainAddress });
    await probe(endpoint, signal);
    plain.health.set('user.UserService', 'NOT_SERVING');
    await assert.rejects(probe(endpoint, signal), /NOT_SERVING/);
    plain.health.set('user.UserService', 'SERVING');
    await assert.rejects(grpcProbe({ service: 'no.Such' })(endpoint, signal), /status 5/);
  });

  it('probes over mutual TLS, and fails without the client certificate', async () => {
    const endpoint = staticEndpoint({ id: 's', address: secureAddress });
    await grpcProbe({ tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } })(
      endpoint,
      signal,
    );
    await assert.rejects(grpcProbe({ tls: { ca: certs.ca } })(endpoint, signal));
    await assert.rejects(grpcProbe()(endpoint, signal));
  });
});
