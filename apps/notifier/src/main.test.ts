import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { embeddedRegistry } from '@meshkit/discovery';
import type { ReadyMessage } from 'meshkit';

describe('main', () => {
  it('runs on the mesh its variables describe: ready over IPC once registered, /metrics, exit 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'notifier-main-'));
    const child = spawn(
      process.execPath,
      ['--conditions=@meshkit/source', join(import.meta.dirname, 'main.ts')],
      {
        env: { ...process.env, MESH_DATA_DIR: dir, MESH_LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '0' },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      },
    );
    const registry = embeddedRegistry({ path: join(dir, 'registry.db') });
    try {
      const [message] = (await once(child, 'message')) as [ReadyMessage];
      assert.equal(message.type, 'ready');
      assert.match(message.urls.http, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(message.urls.grpc, undefined);
      const [instance] = await registry.lookup('notifier');
      assert.equal(`http://${instance?.address}:${instance?.port}`, message.urls.http);

      const metrics = await fetch(`${message.urls.http}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(await metrics.text(), /# TYPE meshkit_client_calls_total counter/);

      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
      assert.deepEqual(await registry.lookup('notifier'), []);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
