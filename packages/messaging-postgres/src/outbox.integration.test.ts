import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createContext, FakeClock } from '@meshkit/core';
import { consume, type Message, memoryBroker, outboxRelay, publisher } from '@meshkit/messaging';
import pg from 'pg';
import { pgInbox } from './pg-inbox.ts';
import { pgOutbox } from './pg-outbox.ts';

// PostgreSQL must be reachable: under CI a missing server fails these tests, it never skips them.
const url = process.env.MESHKIT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pool = new pg.Pool({ connectionString: url, max: 8 });
const suffix = randomUUID().replaceAll('-', '').slice(0, 8);
const tables: string[] = [];
const name = (base: string): string => {
  const t = `${base}_${suffix}_${tables.length}`;
  tables.push(t);
  return t;
};

before(async () => {
  await pool.query('SELECT 1');
});
after(async () => {
  for (const t of tables) await pool.query(`DROP TABLE IF EXISTS ${t}, ${t}_lease`).catch(() => {});
  await pool.end();
});

async function service() {
  const users = name('users');
  await pool.query(`CREATE TABLE ${users} (id TEXT PRIMARY KEY, name TEXT NOT NULL)`);
  const table = name('outbox');
  const outbox = pgOutbox(pool, { table });
  await outbox.setup();
  const createUser = (id: string, userName: string) =>
    outbox.transaction(async (client, tx) => {
      await client.query(`INSERT INTO ${users} (id, name) VALUES ($1, $2)`, [id, userName]);
      await tx.add({ topic: 'user.created', key: id, data: { id, name: userName } });
    });
  return { users, table, outbox, createUser };
}

async function notifier() {
  const mails = name('mails');
  await pool.query(`CREATE TABLE ${mails} (user_id TEXT NOT NULL)`);
  const inbox = pgInbox(pool, { consumer: 'notifications', table: name('inbox') });
  await inbox.setup();
  const handler = inbox.handler(async (msg: Message<{ id: string }>, client) => {
    await client.query(`INSERT INTO ${mails} (user_id) VALUES ($1)`, [msg.data.id]);
  });
  const sent = async () =>
    (await pool.query<{ user_id: string }>(`SELECT user_id FROM ${mails}`)).rows.map((r) => r.user_id);
  return { inbox, handler, sent };
}

describe('PostgreSQL outbox and inbox', () => {
  it('commits business rows and events together, or neither', async () => {
    const svc = await service();
    await svc.createUser('1', 'ada');
    await assert.rejects(
      svc.outbox.transaction(async (client, tx) => {
        await client.query(`INSERT INTO ${svc.users} (id, name) VALUES ('2', 'bob')`);
        await tx.add({ topic: 'user.created', data: { id: '2' } });
        throw new Error('business rule failed');
      }),
      /business rule failed/,
    );
    const users = await pool.query(`SELECT COUNT(*)::int AS c FROM ${svc.users}`);
    const events = await pool.query(`SELECT COUNT(*)::int AS c FROM ${svc.table}`);
    assert.deepEqual([users.rows[0].c, events.rows[0].c], [1, 1]);
  });

  it('relays in order, and a crash before marking re-publishes into an inbox that absorbs it', async () => {
    const svc = await service();
    const broker = memoryBroker();
    const mail = await notifier();
    const seen: string[] = [];
    const consumer = await consume(broker, {
      group: 'notifications',
      topics: ['user.created'],
      handler: async (msg, ctx) => {
        seen.push(msg.id);
        await mail.handler(msg as Message<{ id: string }>, ctx);
      },
    });
    for (let i = 0; i < 5; i++) await svc.createUser(String(i), `u${i}`);
    const ids = (await pool.query<{ id: string }>(`SELECT id FROM ${svc.table} ORDER BY seq`)).rows.map(
      (r) => r.id,
    );
    await pool.query(
      `CREATE FUNCTION crash_${suffix}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'crash'; END $$ LANGUAGE plpgsql`,
    );
    await pool.query(
      `CREATE TRIGGER crash BEFORE UPDATE OF sent_at ON ${svc.table} FOR EACH ROW EXECUTE FUNCTION crash_${suffix}()`,
    );
    const clock = new FakeClock(Date.now());
    const events = publisher(broker, { source: '/users' });
    await assert.rejects(outboxRelay(svc.outbox, events, { clock, leaseMs: 1_000 }).runOnce(), /crash/);
    await pool.query(`DROP TRIGGER crash ON ${svc.table}`);
    await pool.query(`DROP FUNCTION crash_${suffix}()`);
    const restarted = outboxRelay(svc.outbox, events, { clock, owner: 'restarted' });
    assert.equal(await restarted.runOnce(), 0, 'the dead relay still holds the lease');
    await clock.advance(1_000);
    assert.equal(await restarted.runOnce(), 5);
    assert.equal(await restarted.runOnce(), 0);
    const deadline = Date.now() + 5_000;
    while (seen.length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await consumer.stop();
    assert.deepEqual(seen, [...ids, ...ids], 'every event delivered twice, in order');
    assert.deepEqual((await mail.sent()).sort(), ['0', '1', '2', '3', '4'], 'one effect each');
  });

  it('one active relay per database through the lease', async () => {
    const svc = await service();
    const broker = memoryBroker();
    const sink = await consume(broker, { group: 'g', topics: ['#'], handler: async () => {} });
    const clock = new FakeClock(Date.now());
    const events = publisher(broker, { source: '/users' });
    const a = outboxRelay(svc.outbox, events, { owner: 'a', leaseMs: 1_000, clock });
    const b = outboxRelay(svc.outbox, events, { owner: 'b', leaseMs: 1_000, clock });
    await svc.createUser('1', 'x');
    assert.equal(await a.runOnce(), 1);
    await svc.createUser('2', 'y');
    assert.equal(await b.runOnce(), 0);
    await clock.advance(1_000);
    assert.equal(await b.runOnce(), 1);
    assert.equal(await a.runOnce(), 0);
    await b.stop();
    await svc.createUser('3', 'z');
    assert.equal(await a.runOnce(), 1);
    await sink.stop();
  });

  it('holds back rows of a transaction that is still open so order follows commit', async () => {
    const svc = await service();
    const slow = await pool.connect();
    try {
      await slow.query('BEGIN');
      await svc.outbox.add(slow, { topic: 't', data: 'first' });
      await svc.createUser('1', 'later');
      assert.deepEqual(await svc.outbox.pending(10), [], 'the later commit waits for the open transaction');
      await slow.query('COMMIT');
    } finally {
      slow.release();
    }
    const pending = await svc.outbox.pending(10);
    assert.deepEqual(
      pending.map((p) => p.data),
      ['first', { id: '1', name: 'later' }],
    );
  });

  it('concurrent duplicates through the inbox have one effect; a failed effect leaves no id', async () => {
    const mail = await notifier();
    const msg = { id: `e-${suffix}`, data: { id: 'u1' } } as Message<{ id: string }>;
    const ctx = createContext();
    await Promise.all([mail.handler(msg, ctx), mail.handler(msg, ctx), mail.handler(msg, ctx)]);
    assert.deepEqual(await mail.sent(), ['u1']);
    const failing = mail.inbox.handler(async () => {
      throw new Error('smtp down');
    });
    const other = { id: `f-${suffix}`, data: { id: 'u2' } } as Message<{ id: string }>;
    await assert.rejects(failing(other, ctx), /smtp down/);
    await mail.handler(other, ctx);
    assert.deepEqual((await mail.sent()).sort(), ['u1', 'u2']);
    assert.equal(await mail.inbox.prune(-1_000), 2);
  });
});
