import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { subset } from '@meshkit/balance';
import { advertisedAddress, staticRegistry } from '@meshkit/discovery';
import { grpcClient } from '../client/client.ts';
import { UserService } from '../gen/user/user_service_pb.ts';
import { memoryUsers } from '../test-support/users.ts';
import { grpcServer } from './server.ts';

describe('registration', () => {
  it('listening on 0.0.0.0 registers a routable address that a client reaches', async () => {
    const registry = staticRegistry();
    const server = grpcServer({ registration: { registry, service: 'users', deregisterGraceMs: 0 } }).add(
      UserService,
      { ...memoryUsers().impl, getUser: (request) => ({ id: request.id, name: 'found' }) },
    );
    await server.listen({ port: 0, host: '0.0.0.0' });
    const [instance] = await registry.lookup('users');
    assert.equal(instance?.address, advertisedAddress('0.0.0.0'));
    const client = grpcClient(UserService, { service: 'users', registry });
    try {
      assert.equal((await client.getUser({ id: '1' })).name, 'found');
    } finally {
      await client.$close();
      await server.close();
      await registry.close();
    }
  });

  it('registers with version labels, clients route a subset by them, close deregisters', async () => {
    const registry = staticRegistry();
    const servers = ['v1', 'v2'].map((version) =>
      grpcServer({ registration: { registry, service: 'users', version, deregisterGraceMs: 0 } }).add(
        UserService,
        {
          ...memoryUsers().impl,
          getUser: (request) => ({ id: request.id, name: version }),
        },
      ),
    );
    for (const server of servers) await server.listen();
    const instances = await registry.lookup('users');
    assert.deepEqual(instances.map((i) => i.labels.version).sort(), ['v1', 'v2']);
    assert.ok(instances.every((i) => i.protocols.includes('grpc') && i.check?.type === 'grpc'));

    const canary = grpcClient(UserService, {
      service: 'users',
      registry,
      picker: subset({ select: { version: 'v2' } }),
    });
    try {
      for (let i = 0; i < 10; i++) assert.equal((await canary.getUser({ id: String(i) })).name, 'v2');
    } finally {
      await canary.$close();
    }
    await servers[1]!.close();
    assert.deepEqual(
      (await registry.lookup('users')).map((i) => i.labels.version),
      ['v1'],
    );
    await servers[0]!.close();
    assert.deepEqual(await registry.lookup('users'), []);
    await registry.close();
  });
});
