import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { embeddedRegistry } from '@meshkit/discovery';
import { startGateway } from './gateway.ts';
import { resolveGatewayOptions } from './options.ts';

describe('gateway options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshkit-gateway-options-'));
  const registry = embeddedRegistry({ path: join(dir, 'registry.db') });

  it('names the option at fault', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'startGateway.registry'],
      [{ registry, deadlineMs: 0 }, 'startGateway.deadlineMs'],
      [{ registry, port: 70_000 }, 'startGateway.port'],
      [{ registry, mounts: [] }, 'startGateway.mounts'],
      [
        { registry, mounts: [{ prefix: 'api', service: 's', rewrite: '/' }] },
        'startGateway.mounts[0].prefix',
      ],
      [
        { registry, mounts: [{ prefix: '/api/', service: 's', rewrite: '/' }] },
        'startGateway.mounts[0].prefix',
      ],
      [
        { registry, mounts: [{ prefix: '/api', service: '', rewrite: '/' }] },
        'startGateway.mounts[0].service',
      ],
      [{ registry, limits: { maxRequestBodyBytes: -1 } }, 'startGateway.limits.maxRequestBodyBytes'],
      [{ registry, exposeRouting: 'no' }, 'startGateway.exposeRouting'],
    ];
    for (const [options, field] of cases) {
      assert.throws(
        () => resolveGatewayOptions(options as never),
        (error: Error) => error.message.includes(field),
        field,
      );
    }
  });

  it('refuses a routes path that does not exist', async () => {
    await assert.rejects(
      startGateway({ registry, routes: join(dir, 'missing'), shutdown: { signals: false } }),
      /missing/,
    );
  });

  it('rejects a pipeline option the client stack refuses, and stops following the routes', async () => {
    await assert.rejects(
      startGateway({ registry, policies: { deadlineMs: -5 }, shutdown: { signals: false } }),
      /startGateway\.policies\.deadlineMs/,
    );
  });

  it('cleans up', async () => {
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
