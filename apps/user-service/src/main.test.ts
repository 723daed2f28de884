import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { embeddedRegistry } from '@meshkit/discovery';
import { startMainProcess } from '@meshkit/testkit';

describe('main', () => {
  it('serves on the mesh its variables describe, says ready over IPC, serves /metrics, exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'user-service-main-'));
    const main = await startMainProcess(join(import.meta.dirname, 'main.ts'), {
      MESH_DATA_DIR: dir,
      MESH_VERSION: 'v2',
      MESH_LOG_LEVEL: 'warn',
    });
    const registry = embeddedRegistry({ path: join(dir, 'registry.db') });
    try {
      const message = main.ready;
      assert.equal(message.type, 'ready');
      assert.match(message.urls.http, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.match(message.urls.grpc ?? '', /^127\.0\.0\.1:\d+$/);

      // Ready means registered: both instances are there already.
      const [http] = await registry.lookup('user-service');
      const [grpc] = await registry.lookup('user-service-grpc');
      assert.equal(http?.labels.version, 'v2');
      assert.equal(grpc?.labels.version, 'v2');
      assert.equal(`http://${http?.address}:${http?.port}`, message.urls.http);
      assert.equal(`${grpc?.address}:${grpc?.port}`, message.urls.grpc);
      assert.equal(grpc?.labels['metrics-port'], String(http?.port), 'the gRPC instance points at /metrics');

      const res = await fetch(`${message.urls.http}/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'main@example.com', name: 'Main' }),
      });
      assert.equal(res.status, 201);
      const metrics = await (await fetch(`${message.urls.http}/metrics`)).text();
      assert.match(
        metrics,
        /http_server_request_duration_seconds_count\{[^}]*service="user-service"[^}]*http_request_method="POST"[^}]*http_response_status_code="201"[^}]*\} 1/,
      );

      assert.equal(await main.stop(), 0);
      assert.deepEqual(await registry.lookup('user-service'), []);
      assert.deepEqual(await registry.lookup('user-service-grpc'), []);
    } finally {
      main.kill();
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
