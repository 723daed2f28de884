import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { embeddedRegistry } from '@meshkit/discovery';

describe('main', () => {
  it('serves from the environment, registers both endpoints with the version, and exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'user-service-main-'));
    const child = spawn(
      process.execPath,
      ['--conditions=@meshkit/source', join(import.meta.dirname, 'main.ts')],
      {
        env: { ...process.env, DATA_DIR: dir, PORT: '0', GRPC_PORT: '0', VERSION: 'v2' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const registry = embeddedRegistry({ path: join(dir, 'registry.db') });
    try {
      const lines = createInterface({ input: child.stdout });
      let url = '';
      for await (const line of lines) {
        const match = /REST (http:\/\/\S+), gRPC/.exec(line);
        if (match !== null) {
          url = match[1] ?? '';
          break;
        }
      }
      const res = await fetch(`${url}/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'main@example.com', name: 'Main' }),
      });
      assert.equal(res.status, 201);
      const [http] = await registry.lookup('user-service');
      const [grpc] = await registry.lookup('user-service-grpc');
      assert.equal(http?.labels.version, 'v2');
      assert.equal(grpc?.labels.version, 'v2');

      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
      assert.deepEqual(await registry.lookup('user-service'), []);
      assert.deepEqual(await registry.lookup('user-service-grpc'), []);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
