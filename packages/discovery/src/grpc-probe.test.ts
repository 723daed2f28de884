import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { isMeshError } from '@meshkit/core';
import { HealthImplementation } from 'grpc-health-check';
import { grpcProbe } from './grpc-probe.ts';
import { probeFor } from './probes.ts';

describe('grpcProbe against a @grpc/grpc-js server with the standard health service', () => {
  let server: Server;
  let health: HealthImplementation;
  let address: string;
  before(async () => {
    server = new Server();
    health = new HealthImplementation({ '': 'SERVING', 'user.UserService': 'SERVING' });
    health.addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  });
  after(() => server.forceShutdown());

  const signal = () => new AbortController().signal;

  it('passes on SERVING, for the whole server and for a named service', async () => {
    await grpcProbe()({ address }, signal());
    await grpcProbe({ service: 'user.UserService' })({ address }, signal());
    const fromSpec = probeFor({ type: 'grpc', service: 'user.UserService' });
    assert.ok(fromSpec);
    await fromSpec({ address }, signal());
  });

  it('fails on NOT_SERVING and on an unknown service, naming why', async () => {
    health.setStatus('user.UserService', 'NOT_SERVING');
    await assert.rejects(
      grpcProbe({ service: 'user.UserService' })({ address }, signal()),
      (err: unknown) => {
        assert.ok(isMeshError(err));
        assert.equal(err.details.servingStatus, 2);
        return /is NOT_SERVING/.test(err.message);
      },
    );
    health.setStatus('user.UserService', 'SERVING');
    await assert.rejects(grpcProbe({ service: 'nope.Service' })({ address }, signal()), (err: unknown) => {
      assert.ok(isMeshError(err));
      assert.equal(err.details.grpcStatus, 5, 'NOT_FOUND');
      return true;
    });
  });

  it('fails with ERR_CONNECT when nothing listens, and with the abort reason when aborted', async () => {
    const closed = new Server();
    const port = await new Promise<number>((resolve, reject) =>
      closed.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    await new Promise<void>((resolve) => closed.tryShutdown(() => resolve()));
    await assert.rejects(grpcProbe()({ address: `127.0.0.1:${port}` }, signal()), (err: unknown) =>
      isMeshError(err) ? err.code === 'ERR_CONNECT' : false,
    );
    const controller = new AbortController();
    const reason = new Error('probe timeout');
    controller.abort(reason);
    await assert.rejects(grpcProbe()({ address }, controller.signal), (err) => err === reason);
  });
});
