import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateInstance } from './instance.ts';
import type { RegistryChange } from './registry.ts';
import { SnapshotWatch } from './watch.ts';

const inst = (id: string, port = 80) => validateInstance({ id, service: 'users', address: '10.0.0.1', port });

describe('SnapshotWatch', () => {
  it('coalesces sets a slow reader missed, diffing against what it saw last', async () => {
    const watch = new SnapshotWatch('users', () => {});
    const it = watch[Symbol.asyncIterator]();
    watch.push([inst('a'), inst('b')]);
    assert.deepEqual(
      ((await it.next()).value as RegistryChange).instances.map((i) => i.id),
      ['a', 'b'],
    );
    watch.push([inst('a'), inst('b'), inst('c')]);
    watch.push([inst('b', 81), inst('c'), inst('d')]);
    const change = (await it.next()).value as RegistryChange;
    assert.deepEqual(
      change.instances.map((i) => i.id),
      ['b', 'c', 'd'],
    );
    assert.deepEqual(
      change.added.map((i) => i.id),
      ['b', 'c', 'd'],
      'b changed port; c and d are new to this reader',
    );
    assert.deepEqual(
      change.removed.map((i) => i.id),
      ['a'],
    );
    watch.close();
  });

  it('does not wake the reader for a set equal to the last one, and sorts by id', async () => {
    const watch = new SnapshotWatch('users', () => {});
    const it = watch[Symbol.asyncIterator]();
    watch.push([inst('b'), inst('a')]);
    assert.deepEqual(
      ((await it.next()).value as RegistryChange).instances.map((i) => i.id),
      ['a', 'b'],
    );
    let woke = false;
    const next = it.next().then((r) => {
      woke = true;
      return r;
    });
    watch.push([inst('a'), inst('b')]);
    await new Promise((r) => setImmediate(r));
    assert.equal(woke, false);
    watch.close();
    assert.equal((await next).done, true);
  });

  it('ends the iteration with the source’s error, and runs onClose once', async () => {
    let closed = 0;
    const watch = new SnapshotWatch('users', () => closed++);
    const it = watch[Symbol.asyncIterator]();
    const next = it.next();
    watch.fail(new Error('etcd gone'));
    await assert.rejects(next, /etcd gone/);
    watch.close();
    assert.equal(closed, 1);
  });
});
