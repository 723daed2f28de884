import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FakeClock } from '@meshkit/core';
import {
  type IdempotencyStore,
  type IdempotencyStoreOptions,
  memoryIdempotencyStore,
} from './idempotency.ts';
import { sqliteIdempotencyStore } from './sqlite-idempotency.ts';

const response = {
  status: 201,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from('{"id":1}'),
};

function contract(name: string, make: (options: IdempotencyStoreOptions) => IdempotencyStore): void {
  describe(`${name} idempotency store`, () => {
    it('claims a new key once, reports in-progress, then replays the completed response', async () => {
      const store = make({ clock: new FakeClock() });
      assert.deepEqual(await store.claim('k', 'f1'), { kind: 'new' });
      assert.deepEqual(await store.claim('k', 'f1'), { kind: 'in-progress' });
      await store.complete('k', 'f1', response);
      const replay = await store.claim('k', 'f1');
      assert.equal(replay.kind, 'replay');
      assert.ok(replay.kind === 'replay');
      assert.equal(replay.response.status, 201);
      assert.deepEqual(replay.response.headers, response.headers);
      assert.equal(replay.response.body.toString(), '{"id":1}');
      await store.close();
    });

    it('reports a different request under the same key as a mismatch', async () => {
      const store = make({ clock: new FakeClock() });
      await store.claim('k', 'f1');
      assert.deepEqual(await store.claim('k', 'f2'), { kind: 'mismatch' });
      await store.complete('k', 'f1', response);
      assert.deepEqual(await store.claim('k', 'f2'), { kind: 'mismatch' });
      await store.close();
    });

    it('forgets a released key and expires entries after their TTL', async () => {
      const clock = new FakeClock();
      const store = make({ clock, ttlMs: 1_000, inProgressTtlMs: 100 });
      await store.claim('a', 'f');
      await store.release('a');
      assert.deepEqual(await store.claim('a', 'f'), { kind: 'new' });
      await clock.advance(100); // the claim of a request that never finished lapses
      assert.deepEqual(await store.claim('a', 'f'), { kind: 'new' });
      await store.complete('a', 'f', response);
      await clock.advance(999);
      assert.equal((await store.claim('a', 'f')).kind, 'replay');
      await clock.advance(1);
      assert.deepEqual(await store.claim('a', 'other'), { kind: 'new' });
      await store.close();
    });

    it('validates its options', () => {
      assert.throws(() => make({ ttlMs: 0 }), /IdempotencyStore.ttlMs must be an integer >= 1/);
    });
  });
}

contract('memory', (options) => memoryIdempotencyStore(options));
contract('sqlite', (options) => sqliteIdempotencyStore({ path: ':memory:', ...options }));

describe('sqlite idempotency store', () => {
  it('creates the folder of its path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-idem-'));
    try {
      const store = sqliteIdempotencyStore({ path: join(dir, 'var', 'idem.db') });
      assert.deepEqual(await store.claim('k', 'f'), { kind: 'new' });
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is shared by two handles on one file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-idem-'));
    try {
      const path = join(dir, 'idem.db');
      const a = sqliteIdempotencyStore({ path });
      const b = sqliteIdempotencyStore({ path });
      assert.deepEqual(await a.claim('k', 'f'), { kind: 'new' });
      assert.deepEqual(await b.claim('k', 'f'), { kind: 'in-progress' });
      await a.complete('k', 'f', response);
      assert.equal((await b.claim('k', 'f')).kind, 'replay');
      await a.close();
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
