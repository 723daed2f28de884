import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { testHost } from './test-support/harness.ts';

const host = testHost();
after(() => host.cleanup());

describe('startUserService', () => {
  it('fails when a port is taken, and leaves nothing registered or running', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(host.start({ httpPort: port }), /EADDRINUSE/);
      await assert.rejects(host.start({ grpcPort: port }), /EADDRINUSE/);
      assert.deepEqual(await host.registry.lookup('user-service'), []);
      assert.deepEqual(await host.registry.lookup('user-service-grpc'), []);
    } finally {
      blocker.close();
    }
  });

  it('checks its options, naming the value', async () => {
    await assert.rejects(host.start({ pageTokenKey: 'short' }), /pageTokenKey/);
    await assert.rejects(host.start({ httpPort: 70_000 }), /httpPort/);
    await assert.rejects(host.start({ host: '0.0.0.0' }), /advertiseAddress/);
  });
});
