import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { embeddedRegistry } from '@meshkit/discovery';
import { startMainProcess } from '@meshkit/testkit';

describe('main', () => {
  it('runs on the mesh its variables describe: ready over IPC once registered, /metrics, exit 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gateway-main-'));
    const main = await startMainProcess(join(import.meta.dirname, 'main.ts'), {
      MESH_DATA_DIR: dir,
      MESH_LOG_LEVEL: 'warn',
      SHUTDOWN_GRACE_MS: '0',
    });
    const registry = embeddedRegistry({ path: join(dir, 'registry.db') });
    try {
      const message = main.ready;
      assert.equal(message.type, 'ready');
      assert.match(message.urls.http, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(message.urls.grpc, undefined);
      const [instance] = await registry.lookup('gateway');
      assert.equal(`http://${instance?.address}:${instance?.port}`, message.urls.http);

      const metrics = await fetch(`${message.urls.http}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(await metrics.text(), /# TYPE meshkit_client_calls_total counter/);

      assert.equal(await main.stop(), 0);
      assert.deepEqual(await registry.lookup('gateway'), []);
    } finally {
      main.kill();
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
