import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { pgNotificationStore } from './pg-store.ts';
import { setup } from './test-support/setup.ts';

// PostgreSQL must be reachable: under CI a missing server fails this suite, it never skips it.
const url =
  process.env.DATABASE_URL ?? process.env.MESHKIT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const table = `notifications_${randomUUID().replaceAll('-', '').slice(0, 8)}`;

describe('notifier on PostgreSQL', () => {
  after(async () => {
    const pool = new pg.Pool({ connectionString: url });
    await pool.query(`DROP TABLE IF EXISTS ${table}, ${table}_inbox`).catch(() => {});
    await pool.end();
  });

  it('records each event once in PostgreSQL and lists them over REST', async () => {
    const s = setup();
    try {
      const store = await pgNotificationStore({ connectionString: url, table });
      const notifier = await s.start({ store });
      await s.publishUser('USER_CREATED', 'p1', 'pg-1');
      await s.publishUser('USER_CREATED', 'p1', 'pg-1'); // the same event, delivered again
      await s.publishUser('USER_UPDATED', 'p1', 'pg-2');
      await s.publishUser('USER_CREATED', 'p2', 'pg-3');
      await Promise.all(['pg-2', 'pg-3'].map((id) => s.recorded(id)));

      const res = await fetch(`${notifier.url}/notifications?user_id=p1`);
      const body = (await res.json()) as {
        notifications: { eventId: string; type: string }[];
        total: number;
      };
      assert.equal(body.total, 2);
      assert.deepEqual(
        body.notifications.map((n) => [n.eventId, n.type]),
        [
          ['pg-2', 'USER_UPDATED'],
          ['pg-1', 'USER_CREATED'],
        ],
      );
      const limited = await store.list({ limit: 1 });
      assert.equal(limited.length, 1);
      assert.equal(await store.count({}), 3);
      const created = await store.list({ type: 'USER_CREATED', limit: 10 });
      assert.deepEqual(
        created.map((n) => n.eventId),
        ['pg-3', 'pg-1'],
      );
      assert.equal(await store.count({ userId: 'p1', type: 'USER_CREATED' }), 1);
      assert.equal((await fetch(`${notifier.url}/readyz`)).status, 200);

      const check = new pg.Pool({ connectionString: url });
      try {
        const rows = await check.query(`SELECT count(*)::int AS n FROM ${table} WHERE event_id = 'pg-1'`);
        assert.equal(rows.rows[0].n, 1);
      } finally {
        await check.end();
      }
    } finally {
      await s.close();
    }
  });
});
