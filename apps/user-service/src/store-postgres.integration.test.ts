import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { FakeClock } from '@meshkit/core';
import pg from 'pg';
import { pgIdempotencyStore } from './pg-idempotency.ts';
import { openPostgresUserStore, type PostgresUserStore } from './store-postgres.ts';
import { userDomainSuite } from './test-support/domain-suite.ts';

// PostgreSQL must be reachable: under CI a missing server fails these tests, it never skips them.
const url = process.env.MESHKIT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];
const freshSchema = (): string => {
  const schema = `user_service_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  schemas.push(schema);
  return schema;
};
const admin = new pg.Pool({ connectionString: url, max: 2 });
after(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

const suiteSchema = freshSchema();
userDomainSuite('PostgreSQL', {
  open: () => openPostgresUserStore({ connectionString: url, schema: suiteSchema, poolSize: 4 }),
  cleanup: async () => {},
});

describe('PostgreSQL store', () => {
  it('migrates once when several instances start at once on a fresh database, and again is a no-op', async () => {
    const schema = freshSchema();
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => openPostgresUserStore({ connectionString: url, schema, poolSize: 2 })),
    );
    try {
      const applied = await admin.query<{ version: number }>(
        `SELECT version FROM ${schema}.user_service_migrations ORDER BY version`,
      );
      assert.deepEqual(
        applied.rows.map((r) => r.version),
        [1, 2],
      );
      const again = await openPostgresUserStore({ connectionString: url, schema, poolSize: 1 });
      stores.push(again);
      const tables = await admin.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [schema],
      );
      assert.deepEqual(
        tables.rows.map((r) => r.table_name),
        [
          'idempotency_keys',
          'user_service_migrations',
          'user_service_outbox',
          'user_service_outbox_lease',
          'users',
        ],
      );
    } finally {
      for (const store of stores) await store.close();
    }
  });

  it('shares idempotency keys between instances: one claim wins, the others replay or wait', async () => {
    const schema = freshSchema();
    const stores: PostgresUserStore[] = [];
    try {
      for (let i = 0; i < 2; i++)
        stores.push(await openPostgresUserStore({ connectionString: url, schema, poolSize: 4 }));
      const clock = new FakeClock();
      const [a, b] = stores.map((s) => pgIdempotencyStore(s.pool, { clock, inProgressTtlMs: 1_000 })) as [
        ReturnType<typeof pgIdempotencyStore>,
        ReturnType<typeof pgIdempotencyStore>,
      ];
      const claims = await Promise.all([a.claim('k1', 'f1'), b.claim('k1', 'f1'), a.claim('k1', 'f1')]);
      assert.equal(claims.filter((c) => c.kind === 'new').length, 1);
      assert.equal(claims.filter((c) => c.kind === 'in-progress').length, 2);
      assert.deepEqual(await b.claim('k1', 'other'), { kind: 'mismatch' });
      await a.complete('k1', 'f1', {
        status: 201,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from('{"id":"1"}'),
      });
      const replay = await b.claim('k1', 'f1');
      assert.equal(replay.kind, 'replay');
      if (replay.kind === 'replay') {
        assert.equal(replay.response.status, 201);
        assert.equal(replay.response.body.toString(), '{"id":"1"}');
        assert.deepEqual(replay.response.headers, { 'content-type': 'application/json' });
      }
      // An unfinished claim lapses after inProgressTtlMs; a released one is free at once.
      assert.equal((await a.claim('k2', 'f')).kind, 'new');
      assert.equal((await b.claim('k2', 'f')).kind, 'in-progress');
      await clock.advance(1_000);
      assert.equal((await b.claim('k2', 'f')).kind, 'new');
      await b.release('k2');
      assert.equal((await a.claim('k2', 'f')).kind, 'new');
    } finally {
      for (const store of stores) await store.close();
    }
  });
});
