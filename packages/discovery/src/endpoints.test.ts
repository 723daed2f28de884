import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointSets } from './endpoints.ts';
import { staticRegistry } from './static.ts';

describe('endpointSets', () => {
  it('streams whole endpoint sets, filtered by protocol, and ends on close', async () => {
    const registry = staticRegistry({
      instances: [
        { id: 'h', service: 'users', address: '10.0.0.1', port: 80, weight: 2, version: 'v1' },
        { id: 'g', service: 'users', address: '10.0.0.2', port: 90, protocols: ['grpc'] },
      ],
    });
    const sets = endpointSets(registry, 'users', { protocol: 'http' });
    const it = sets[Symbol.asyncIterator]();
    assert.deepEqual((await it.next()).value, [
      { id: 'h', address: '10.0.0.1:80', labels: { version: 'v1' }, weight: 2 },
    ]);
    const next = it.next();
    await registry.register({ id: 'h2', service: 'users', address: '::1', port: 81 });
    assert.deepEqual(
      (await next).value.map((e: { address: string }) => e.address),
      ['10.0.0.1:80', '[::1]:81'],
    );
    const last = it.next();
    sets.close();
    assert.equal((await last).done, true);
  });

  it('allows one reader per watch', () => {
    const registry = staticRegistry();
    const watch = registry.watch('users');
    watch[Symbol.asyncIterator]();
    assert.throws(() => watch[Symbol.asyncIterator](), /a Watch has one reader/);
    watch.close();
  });

  it('rejects a duplicate id in the static configuration', () => {
    assert.throws(
      () =>
        staticRegistry({
          instances: [
            { id: 'x', service: 'users', address: '10.0.0.1', port: 80 },
            { id: 'x', service: 'users', address: '10.0.0.2', port: 80 },
          ],
        }),
      /instance\.id "x" is already registered at 10\.0\.0\.1:80/,
    );
  });
});
