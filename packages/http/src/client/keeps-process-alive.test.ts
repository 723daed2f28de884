import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';

/**
 * A script's top-level `await client.get(...)` must not end the process while the call waits in retry
 * backoff: the backoff timer keeps the process alive as a plain Node timer does.
 */
const script = (port: number): string => `
import { httpClient } from '@meshkit/http';
import { constantBackoff } from '@meshkit/policies';
const client = httpClient({
  service: 'flaky',
  endpoints: ['127.0.0.1:${port}'],
  policies: { retry: { backoff: constantBackoff(300) } },
});
const body = await client.get('/x');
console.log('body', JSON.stringify(body));
await client.close();
`;

function runScript(source: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--conditions=@meshkit/source', '--input-type=module', '--eval', source],
    { cwd: import.meta.dirname, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return once(child, 'close').then(([code]) => ({ code: code as number | null, stdout, stderr }));
}

describe('a pending call keeps the process alive', () => {
  it('a top-level await through a 503 and its retry backoff prints the answer and exits 0', async () => {
    let served = 0;
    const server = createServer((_req, res) => {
      served++;
      if (served === 1) res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const { code, stdout, stderr } = await runScript(script(port));
      assert.equal(stdout.trim(), 'body {"ok":true}', stderr);
      assert.equal(code, 0, stderr);
      assert.equal(served, 2);
    } finally {
      server.close();
    }
  });
});
