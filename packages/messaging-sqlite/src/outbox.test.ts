import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { constantBackoff, createContext, FakeClock, layer, stack } from '@meshkit/core';
import {
  consume,
  type HandlerResult,
  inboxLayer,
  inboxTx,
  type Message,
  memoryBroker,
  outboxRelay,
  publisher,
  settle,
} from '@meshkit/messaging';
import { scripted } from '@meshkit/testkit';
import { sqliteBroker } from './sqlite-broker.ts';
import { sqliteInbox } from './sqlite-inbox.ts';
import { sqliteOutbox } from './sqlite-outbox.ts';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-outbox-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function service() {
  const file = join(dir, `svc${n++}.db`);
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL)');
  const outbox = sqliteOutbox(db);
  const createUser = (id: string, name: string) =>
    outbox.transaction((tx) => {
      db.prepare('INSERT INTO users (id, name) VALUES (?, ?)').run(id, name);
      tx.add({ topic: 'user.created', key: id, data: { id, name }, subject: id });
    });
  return { file, db, outbox, createUser };
}

/** A consumer database whose handler counts welcome mails through the inbox. */
function notifier() {
  const db = new DatabaseSync(join(dir, `notifier${n++}.db`));
  db.exec('CREATE TABLE mails (user_id TEXT NOT NULL)');
  const inbox = sqliteInbox(db, { consumer: 'notifications' });
  const handler = inbox.handler((msg: Message<{ id: string }>, tx) => {
    tx.prepare('INSERT INTO mails (user_id) VALUES (?)').run(msg.data.id);
  });
  const mails = () =>
    (db.prepare('SELECT user_id FROM mails ORDER BY rowid').all() as { user_id: string }[]).map(
      (r) => r.user_id,
    );
  return { db, inbox, handler, mails };
}

describe('sqlite outbox and inbox', () => {
  it('writes business rows and events in one transaction: all or nothing', () => {
    const svc = service();
    svc.createUser('1', 'ada');
    assert.throws(() =>
      svc.outbox.transaction((tx) => {
        svc.db.prepare('INSERT INTO users (id, name) VALUES (?, ?)').run('2', 'bob');
        tx.add({ topic: 'user.created', data: { id: '2' } });
        throw new Error('business rule failed');
      }),
    );
    assert.equal((svc.db.prepare('SELECT COUNT(*) AS c FROM users').get() as { c: number }).c, 1);
    assert.equal((svc.db.prepare('SELECT COUNT(*) AS c FROM meshkit_outbox').get() as { c: number }).c, 1);
  });

  it('the relay publishes pending rows in order with their ids and marks them sent', async () => {
    const svc = service();
    const broker = memoryBroker();
    const got: Message[] = [];
    const consumer = await consume(broker, {
      group: 'g',
      topics: ['user.created'],
      handler: async (m) => void got.push(m),
    });
    for (let i = 0; i < 5; i++) svc.createUser(String(i), `user${i}`);
    const ids = (svc.db.prepare('SELECT id FROM meshkit_outbox ORDER BY seq').all() as { id: string }[]).map(
      (r) => r.id,
    );
    const relay = outboxRelay(
      sqliteOutbox(new DatabaseSync(svc.file)),
      publisher(broker, { source: '/users' }),
    );
    assert.equal(await relay.runOnce(), 5);
    assert.equal(await relay.runOnce(), 0);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      got.map((m) => m.id),
      ids,
    );
    assert.deepEqual(got[0]!.data, { id: '0', name: 'user0' });
    assert.equal(got[0]!.subject, '0');
    assert.equal(got[0]!.key, '0');
    assert.equal(got[0]!.source, '/users');
    const unsent = svc.db.prepare('SELECT COUNT(*) AS c FROM meshkit_outbox WHERE sent_at IS NULL').get() as {
      c: number;
    };
    assert.equal(unsent.c, 0);
    await consumer.stop();
  });

  it('a crash after the confirm and before marking re-publishes; the inbox absorbs the duplicate', async () => {
    const svc = service();
    const broker = memoryBroker();
    const mail = notifier();
    const consumer = await consume(broker, {
      group: 'notifications',
      topics: ['user.#'],
      handler: mail.handler,
    });
    svc.createUser('7', 'grace');
    // The relay's marking fails as if the process died right after the broker confirmed.
    svc.db.exec(
      `CREATE TRIGGER crash BEFORE UPDATE OF sent_at ON meshkit_outbox BEGIN SELECT RAISE(ABORT, 'crash'); END`,
    );
    const events = publisher(broker, { source: '/users' });
    const clock = new FakeClock();
    const crashed = outboxRelay(sqliteOutbox(new DatabaseSync(svc.file)), events, { clock, leaseMs: 5_000 });
    await assert.rejects(crashed.runOnce(), /crash/);
    svc.db.exec('DROP TRIGGER crash');
    // After the restart the dead relay's lease runs out and the new relay publishes the event again.
    const restarted = outboxRelay(sqliteOutbox(new DatabaseSync(svc.file)), events, {
      clock,
      owner: 'restarted',
    });
    assert.equal(await restarted.runOnce(), 0, 'the dead relay still holds the lease');
    await clock.advance(5_000);
    assert.equal(await restarted.runOnce(), 1);
    await new Promise((r) => setTimeout(r, 20));
    await consumer.stop();
    assert.deepEqual(mail.mails(), ['7'], 'one effect for two deliveries');
    const recorded = mail.db.prepare('SELECT COUNT(*) AS c FROM meshkit_inbox').get() as { c: number };
    assert.equal(recorded.c, 1);
  });

  it('the inbox rolls back the id with the effects when the handler fails, so the retry runs again', async () => {
    const mail = notifier();
    let fail = true;
    const handler = mail.inbox.handler((msg: Message<{ id: string }>, tx) => {
      tx.prepare('INSERT INTO mails (user_id) VALUES (?)').run(msg.data.id);
      if (fail) throw new Error('smtp down');
    });
    const msg = { id: 'e1', data: { id: 'u1' } } as Message<{ id: string }>;
    const ctx = createContext();
    await assert.rejects(handler(msg, ctx), /smtp down/);
    assert.deepEqual(mail.mails(), []);
    fail = false;
    await handler(msg, ctx);
    await handler(msg, ctx);
    assert.deepEqual(mail.mails(), ['u1']);
    assert.equal(await mail.inbox.prune(-1), 1);
  });

  it('the inbox also works as a Layer in a stack, handing the transaction through the context', async () => {
    const mail = notifier();
    const handler = stack(inboxLayer<DatabaseSync, { id: string }>(mail.inbox)).wrap(async (msg, ctx) => {
      inboxTx<DatabaseSync>(ctx).prepare('INSERT INTO mails (user_id) VALUES (?)').run(msg.data.id);
    });
    const msg = { id: 'layer-1', data: { id: 'u9' } } as Message<{ id: string }>;
    await handler(msg, createContext());
    await handler(msg, createContext());
    assert.deepEqual(mail.mails(), ['u9']);
    assert.throws(() => inboxTx(createContext()), /wrap the handler with inboxLayer/);
  });

  it('the inbox as a consumer layer: retried and failed attempts roll back, the success commits once, a duplicate never reaches the handler', async () => {
    const clock = new FakeClock();
    const broker = sqliteBroker({ path: join(dir, `broker${n++}.db`), clock });
    const mail = notifier();
    type Event = Message<{ id: string }>;
    const writeMail = layer<Event, HandlerResult>('write-mail', (next) => (msg, ctx) => {
      inboxTx<DatabaseSync>(ctx).prepare('INSERT INTO mails (user_id) VALUES (?)').run(msg.data.id);
      return next(msg, ctx);
    });
    // The mail server asks to come back later, then fails, then accepts; a refused address is
    // dead-lettered on the spot.
    const smtp = scripted<Event, HandlerResult>([
      async () => settle.retry('greylisted', 1_000),
      { fail: new Error('smtp down') },
      { ok: undefined },
      async () => settle.deadLetter('no such mailbox'),
    ]);
    after(() => broker.close());
    const consumer = await consume<{ id: string }>(broker, {
      group: 'mails',
      topics: ['user.created'],
      clock,
      retry: { maxAttempts: 3, backoff: constantBackoff(1_000) },
      layers: [inboxLayer(mail.inbox), writeMail],
      handler: smtp,
    });
    const deadLetters: string[] = [];
    const dlq = await consume(broker, {
      group: 'dlq',
      topics: ['dead-letter.mails'],
      clock,
      handler: async (msg) => {
        deadLetters.push(`${msg.id}:${msg.headers['meshkit-dead-letter-reason']}`);
      },
    });
    const events = publisher(broker, { source: '/users', clock });
    // Settlements resolve after a sync of the WAL on the thread pool: wait in real time, bounded, while
    // the broker's clock moves on by `stepMs` a round (so the retry delay passes whenever it was armed).
    const turns = async (until: () => boolean, stepMs = 0): Promise<void> => {
      for (let i = 0; i < 1_000 && !until(); i++) {
        await new Promise((r) => setTimeout(r, 2));
        await clock.advance(stepMs);
      }
    };
    await events.publish('user.created', { id: 'u1' }, { id: 'e1' });
    await turns(() => smtp.calls.length === 2, 50);
    assert.deepEqual(mail.mails(), [], 'the retried and the failed attempt rolled their effects back');
    await turns(() => consumer.describe().handled === 1, 50);
    assert.equal(consumer.describe().handled, 1);
    // The outbox may publish a row twice: the inbox drops the second copy before the handler.
    await events.publish('user.created', { id: 'u1' }, { id: 'e1' });
    await events.publish('user.created', { id: 'u2' }, { id: 'e2' });
    await turns(() => deadLetters.length === 1);
    assert.deepEqual(
      smtp.calls.map((c) => `${c.req.id}#${c.ctx.attempt}`),
      ['e1#1', 'e1#2', 'e1#3', 'e2#1'],
    );
    assert.deepEqual(mail.mails(), ['u1', 'u2'], 'the dead-lettered event committed its effects and id');
    assert.deepEqual(deadLetters, ['e2:handler-rejected']);
    assert.deepEqual(
      [consumer.describe().handled, consumer.describe().retried, consumer.describe().deadLettered],
      [2, 2, 1],
    );
    await Promise.all([consumer.stop(), dlq.stop()]);
    await broker.close();
  });

  it('one active relay per database: a second relay waits until the lease expires or is released', async () => {
    const clock = new FakeClock();
    const svc = service();
    const broker = memoryBroker();
    const seen: string[] = [];
    const consumer = await consume(broker, {
      group: 'g',
      topics: ['user.created'],
      handler: async (m) => void seen.push(m.id),
    });
    const events = publisher(broker, { source: '/users' });
    const first = outboxRelay(sqliteOutbox(new DatabaseSync(svc.file)), events, {
      owner: 'a',
      leaseMs: 1_000,
      clock,
    });
    const second = outboxRelay(sqliteOutbox(new DatabaseSync(svc.file)), events, {
      owner: 'b',
      leaseMs: 1_000,
      clock,
    });
    svc.createUser('1', 'a');
    assert.equal(await first.runOnce(), 1);
    svc.createUser('2', 'b');
    assert.equal(await second.runOnce(), 0, 'lease held by a');
    assert.equal(second.active, false);
    await clock.advance(1_000);
    assert.equal(await second.runOnce(), 1, 'a stopped renewing: b takes over');
    assert.equal(await first.runOnce(), 0, 'and a is now fenced out');
    await second.stop();
    svc.createUser('3', 'c');
    assert.equal(await first.runOnce(), 1, 'released lease is free at once');
    await new Promise((r) => setImmediate(r));
    assert.equal(seen.length, 3);
    await consumer.stop();
  });

  it('a refused row is retried, then parked as failed; later rows still go out', async () => {
    const svc = service();
    const broker = memoryBroker({ maxMessageBytes: 100 });
    const sink = await consume(broker, { group: 'g', topics: ['#'], handler: async () => {} });
    svc.outbox.transaction((tx) => {
      tx.add({ topic: 'big', data: 'x'.repeat(200) });
      tx.add({ topic: 'small', data: 'ok' });
    });
    const relay = outboxRelay(sqliteOutbox(new DatabaseSync(svc.file)), publisher(broker, { source: '/s' }), {
      maxAttempts: 2,
    });
    await assert.rejects(relay.runOnce(), /1 outbox events were refused/);
    await assert.rejects(relay.runOnce(), /refused/);
    assert.equal(await relay.runOnce(), 0, 'parked, nothing loops');
    const rows = svc.db
      .prepare('SELECT topic, attempts, failed, error, sent_at FROM meshkit_outbox ORDER BY seq')
      .all() as {
      topic: string;
      attempts: number;
      failed: number;
      error: string;
      sent_at: number | null;
    }[];
    assert.equal(rows[0]!.failed, 1);
    assert.equal(rows[0]!.attempts, 2);
    assert.match(rows[0]!.error, /exceeds the broker limit/);
    assert.notEqual(rows[1]!.sent_at, null);
    await sink.stop();
  });

  it('a started relay publishes soon after a nudge and stops cleanly', async () => {
    const svc = service();
    const broker = memoryBroker();
    const seen: string[] = [];
    const consumer = await consume(broker, {
      group: 'g',
      topics: ['user.created'],
      handler: async (m) => void seen.push(m.id),
    });
    const relay = outboxRelay(sqliteOutbox(new DatabaseSync(svc.file)), publisher(broker, { source: '/s' }), {
      pollIntervalMs: 60_000,
    });
    svc.outbox.onCommit(() => relay.nudge());
    relay.start();
    svc.createUser('1', 'x');
    const deadline = Date.now() + 5_000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(seen.length, 1);
    await relay.stop();
    assert.equal(relay.active, false);
    await consumer.stop();
  });

  it('validates table names and options', () => {
    const db = new DatabaseSync(':memory:');
    assert.throws(
      () => sqliteOutbox(db, { table: 'x; DROP TABLE y' }),
      /sqliteOutbox.table must be a plain SQL identifier/,
    );
    assert.throws(() => sqliteInbox(db, { consumer: '' }), /sqliteInbox.consumer/);
    assert.throws(
      () => outboxRelay(sqliteOutbox(db), publisher(memoryBroker(), { source: '/s' }), { batchSize: 0 }),
      /outboxRelay.batchSize must be an integer >= 1/,
    );
  });
});
