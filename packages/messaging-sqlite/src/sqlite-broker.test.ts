import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { FakeClock, isMeshError, systemClock } from '@meshkit/core';
import {
  checkGroupStart,
  type Delivery,
  type GroupSkippedRetainedEvent,
  publisher,
} from '@meshkit/messaging';
import { CommitWatcher, wakePath } from './commit-watcher.ts';
import { sqliteBroker as openBroker, type SqliteBroker, type SqliteBrokerOptions } from './sqlite-broker.ts';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-sqlite-'));
const opened: SqliteBroker[] = [];
after(async () => {
  // A failed assertion must not leave a subscription keeping the test process alive.
  for (const b of opened) await b.close();
  rmSync(dir, { recursive: true, force: true });
});
/** Opens a broker that the suite closes at the end whatever happens. */
function sqliteBroker(options: SqliteBrokerOptions): SqliteBroker {
  const broker = openBroker(options);
  opened.push(broker);
  return broker;
}
let n = 0;
const freshPath = (): string => join(dir, `b${n++}.db`);

/** A raw member that records deliveries without settling them. */
async function hold(broker: SqliteBroker, group: string, prefetch = 10) {
  const got: Delivery[] = [];
  const sub = await broker.subscribe({ group, patterns: ['t.#'], prefetch, onDelivery: (d) => got.push(d) });
  return { got, sub };
}

const tick = () => new Promise((r) => setImmediate(r));
async function settle(): Promise<void> {
  for (let i = 0; i < 6; i++) await tick();
}

describe('sqlite broker', () => {
  it("a new group starts at 'now' by default, warning of retained events it skips, or at 'earliest'", async () => {
    const broker = sqliteBroker({ path: freshPath() });
    const events = publisher(broker, { source: '/t' });
    await events.publish('t.a', { n: 1 });
    await events.publish('t.b', { n: 2 });
    await events.publish('other.c', { n: 3 });
    const warnings: GroupSkippedRetainedEvent[] = [];
    const listen = (e: unknown) => warnings.push(e as GroupSkippedRetainedEvent);
    diagnostics.subscribe('meshkit:messaging:group-skipped-retained', listen);
    try {
      const late = await hold(broker, 'late');
      const early = await broker.subscribe({
        group: 'early',
        patterns: ['t.#'],
        prefetch: 10,
        from: 'earliest',
        onDelivery: (d) => void d.ack(),
      });
      const earlyGot: string[] = [];
      const early2 = await broker.subscribe({
        group: 'early-2',
        patterns: ['t.#'],
        prefetch: 10,
        from: 'earliest',
        onDelivery: (d) => earlyGot.push(d.topic),
      });
      await settle();
      for (let i = 0; i < 20 && earlyGot.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(earlyGot, ['t.a', 't.b']);
      assert.equal(late.got.length, 0, "'now' skips what was published before");
      assert.deepEqual(warnings, [{ broker: 'sqlite', group: 'late', patterns: ['t.#'], skipped: 2 }]);
      // An existing group resumes where it is, whatever `from` says.
      await late.sub.close();
      const again = await broker.subscribe({
        group: 'late',
        patterns: ['t.#'],
        prefetch: 10,
        from: 'earliest',
        onDelivery: () => {},
      });
      assert.equal(warnings.length, 1);
      await Promise.all([early.close(), early2.close(), again.close()]);
      assert.throws(() => checkGroupStart('soon', 'sqlite'), /subscribe\.from must be 'now' or 'earliest'/);
    } finally {
      diagnostics.unsubscribe('meshkit:messaging:group-skipped-retained', listen);
      await broker.close();
    }
  });

  it('creates the folder of its path, and names a path it cannot use', async () => {
    const broker = sqliteBroker({ path: join(dir, 'var', 'nested', 'events.db') });
    await publisher(broker, { source: '/t' }).publish('t.a', { n: 1 });
    await broker.close();
    assert.throws(
      () => openBroker({ path: dir }),
      (error: unknown) =>
        isMeshError(error) &&
        error.message.startsWith(`sqliteBroker.path cannot be used as a SQLite file ${dir}: it is a folder`),
    );
  });

  it('is durable by default: WAL and synchronous=FULL', async () => {
    const path = freshPath();
    const broker = sqliteBroker({ path });
    assert.deepEqual(broker.durability(), {
      journalMode: 'wal',
      publishes: 'FULL',
      settlements: 'FULL',
      claims: 'NORMAL',
    });
    // An ack resolves only after the WAL sync that makes it durable; the commit did not wait for it.
    await publisher(broker, { source: '/t' }).publish('t.a', { n: 1 });
    const { got, sub } = await hold(broker, 'durable');
    await publisher(broker, { source: '/t' }).publish('t.a', { n: 2 });
    await settle();
    assert.equal(got.length, 1);
    assert.equal(broker.stats().walSyncs, 0, 'publishes are synced by their own FULL commit');
    await got[0]!.ack();
    assert.equal(broker.stats().walSyncs, 1);
    await sub.close();
    await broker.close();
    const relaxed = sqliteBroker({ path, durableSettlements: false });
    assert.equal(relaxed.durability().settlements, 'NORMAL');
    const other = await hold(relaxed, 'relaxed');
    await publisher(relaxed, { source: '/t' }).publish('t.a', { n: 3 });
    await settle();
    await other.got[0]!.ack();
    assert.equal(relaxed.stats().walSyncs, 0, 'no sync for settlements that need not be durable');
    await other.sub.close();
    await relaxed.close();
  });

  it('redelivers a dead member’s messages once the visibility timeout passes, counting deliveries', async () => {
    const clock = new FakeClock();
    const path = freshPath();
    const a = sqliteBroker({ path, clock, visibilityTimeoutMs: 1_000 });
    const b = sqliteBroker({ path, clock, visibilityTimeoutMs: 1_000 });
    const first = await hold(a, 'g');
    const second = await hold(b, 'g');
    await publisher(a, { source: '/t' }).publish('t.x', 1);
    await settle();
    const holder = first.got.length === 1 ? first : second;
    const other = holder === first ? second : first;
    assert.equal(holder.got.length + other.got.length, 1);
    assert.equal(holder.got[0]!.deliveryCount, 1);
    (holder === first ? a : b).abandon();
    await clock.advance(999);
    await settle();
    assert.equal(other.got.length, 0, 'still leased to the dead member');
    // The wake-up timer runs 1 ms after the expiry (see #armDue).
    await clock.advance(2);
    await settle();
    assert.equal(other.got.length, 1);
    assert.equal(other.got[0]!.deliveryCount, 2);
    await other.got[0]!.ack();
    await (holder === first ? b : a).close();
  });

  it('a live member keeps its lease past the visibility timeout (renewal)', async () => {
    const clock = new FakeClock();
    const path = freshPath();
    const a = sqliteBroker({ path, clock, visibilityTimeoutMs: 300 });
    const b = sqliteBroker({ path, clock, visibilityTimeoutMs: 300 });
    const first = await hold(a, 'g');
    await publisher(a, { source: '/t' }).publish('t.x', 1);
    await settle();
    assert.equal(first.got.length, 1);
    const second = await hold(b, 'g');
    for (let i = 0; i < 10; i++) {
      await clock.advance(100);
      await settle();
    }
    assert.equal(second.got.length, 0);
    await first.got[0]!.ack();
    await a.close();
    await b.close();
  });

  it('delays a retry on the clock and delivers the merged headers', async () => {
    const clock = new FakeClock();
    const broker = sqliteBroker({ path: freshPath(), clock });
    const m = await hold(broker, 'g');
    await publisher(broker, { source: '/t' }).publish('t.x', 1);
    await settle();
    await m.got[0]!.retryLater({ delayMs: 500, headers: { 'meshkit-attempt': '2' } });
    await clock.advance(499);
    await settle();
    assert.equal(m.got.length, 1);
    await clock.advance(2);
    await settle();
    assert.equal(m.got.length, 2);
    assert.equal(m.got[1]!.headers['meshkit-attempt'], '2');
    assert.equal(m.got[1]!.headers['ce-source'], '/t');
    assert.equal(m.got[1]!.deliveryCount, 1);
    await m.got[1]!.ack();
    await broker.close();
  });

  it('close() releases what the connection held so another member takes it at once', async () => {
    const clock = new FakeClock();
    const path = freshPath();
    const a = sqliteBroker({ path, clock });
    const b = sqliteBroker({ path, clock });
    const first = await hold(a, 'g');
    await publisher(a, { source: '/t' }).publish('t.x', 1);
    await settle();
    const second = await hold(b, 'g');
    await a.close();
    await settle();
    assert.equal(second.got.length, 1);
    assert.equal(second.got[0]!.deliveryCount, 1, 'a release is not counted as a delivery');
    assert.equal(first.got.length, 1);
    await b.close();
  });

  it('retention removes only messages every group has settled, after the retention period', async () => {
    const clock = new FakeClock();
    const path = freshPath();
    const broker = sqliteBroker({ path, clock, retentionMs: 1_000, retentionIntervalMs: 60_000 });
    const g1 = await hold(broker, 'g1');
    const g2 = await hold(broker, 'g2');
    const events = publisher(broker, { source: '/t' });
    await events.publish('t.x', 1);
    await events.publish('t.x', 2);
    await settle();
    await clock.advance(2_000);
    assert.equal(await broker.runRetention(), 0, 'both still leased');
    await Promise.all(g1.got.map((d) => d.ack()));
    assert.equal(await broker.runRetention(), 0, 'g2 still holds them');
    await g2.got[0]!.ack();
    assert.equal(await broker.runRetention(), 1);
    await g2.got[1]!.ack();
    await events.publish('t.x', 3);
    await settle();
    await Promise.all([g1.got[2]!.ack(), g2.got[2]!.ack()]);
    assert.equal(await broker.runRetention(), 1, 'the fresh one is younger than retentionMs');
    await broker.close();
  });

  it('retention takes the oldest first, at most `limit` a run, and stops at the first young message', async () => {
    const clock = new FakeClock();
    const path = freshPath();
    const broker = sqliteBroker({ path, clock, retentionMs: 1_000, retentionIntervalMs: 60_000 });
    const events = publisher(broker, { source: '/t' });
    const g = await hold(broker, 'g', 100);
    await Promise.all(Array.from({ length: 5 }, (_, i) => events.publish('t.x', i)));
    await clock.advance(2_000);
    await Promise.all(Array.from({ length: 3 }, (_, i) => events.publish('t.x', 5 + i)));
    await settle();
    await Promise.all(g.got.map((d) => d.ack()));
    assert.equal(await broker.runRetention(2), 2, 'at most the limit');
    assert.equal(await broker.runRetention(), 3, 'the rest of the old ones, none of the young');
    assert.equal(await broker.runRetention(), 0);
    await clock.advance(2_000);
    assert.equal(await broker.runRetention(), 3, 'old enough now');
    await broker.close();
  });

  it('rejects a whole batch, retryable, when the commit cannot happen', async () => {
    const path = freshPath();
    const broker = sqliteBroker({ path, busyTimeoutMs: 0 });
    const blocker = new DatabaseSync(path);
    blocker.exec('BEGIN IMMEDIATE');
    const outcomes = await publisher(broker, { source: '/t' }).publishBatch([
      { topic: 't.x', data: 1 },
      { topic: 't.x', data: 2 },
    ]);
    blocker.exec('ROLLBACK');
    blocker.close();
    assert.deepEqual(
      outcomes.map((o) => o.ok),
      [false, false],
    );
    const error = !outcomes[0]!.ok ? outcomes[0]!.error : undefined;
    assert.ok(isMeshError(error) && error.code === 'ERR_BROKER_REJECTED' && error.retryable);
    assert.match(error.message, /locked|busy/i);
    await broker.close();
  });

  it('a settlement that cannot be recorded is retried, then the message comes back after the lease', async () => {
    const clock = new FakeClock();
    const path = freshPath();
    const broker = sqliteBroker({ path, clock, busyTimeoutMs: 0, visibilityTimeoutMs: 1_000 });
    const m = await hold(broker, 'g');
    await publisher(broker, { source: '/t' }).publish('t.x', 1);
    await settle();
    assert.equal(m.got.length, 1);
    const blocker = new DatabaseSync(path);
    blocker.exec('BEGIN IMMEDIATE');
    await assert.rejects(m.got[0]!.ack(), (e: unknown) => isMeshError(e) && e.retryable);
    blocker.exec('ROLLBACK');
    blocker.close();
    await clock.advance(999);
    await settle();
    assert.equal(m.got.length, 1, 'not before the lease runs out');
    await clock.advance(2);
    await settle();
    assert.equal(m.got.length, 2, 'delivered again instead of pinned forever');
    assert.equal(m.got[1]!.deliveryCount, 2);
    await m.got[1]!.ack();
  });

  it('group commit: many publishers in one turn share one transaction', async () => {
    const path = freshPath();
    const broker = sqliteBroker({ path });
    const observer = new DatabaseSync(path);
    const before = broker.stats().commits;
    const a = publisher(broker, { source: '/a' });
    const b = publisher(broker, { source: '/b' });
    const receipts = await Promise.all([
      ...Array.from({ length: 150 }, (_, i) => a.publish('t.a', i)),
      ...Array.from({ length: 150 }, (_, i) => b.publish('t.b', i)),
    ]);
    assert.equal(broker.stats().commits - before, 1, 'one transaction for both publishers');
    const positions = receipts.map((r) => Number(r.position));
    assert.equal(new Set(positions).size, 300);
    const stored = observer.prepare('SELECT COUNT(*) AS c FROM messages').get() as { c: number };
    assert.equal(stored.c, 300);
    observer.close();
  });

  it('a publish signals other processes through the wake file after its commit', async () => {
    const path = freshPath();
    const broker = sqliteBroker({ path });
    const reader = new DatabaseSync(path);
    let seen = -1;
    let woke: () => void = () => {};
    const signalled = new Promise<void>((resolve) => {
      woke = resolve;
    });
    // What another process's broker runs, with its idle poll out of the way.
    const watcher = new CommitWatcher({
      path: wakePath(path),
      check: () => {
        seen = (reader.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;
        if (seen > 0) woke();
      },
      idlePollMs: 600_000,
      fallbackPollMs: 600_000,
      clock: systemClock,
    });
    watcher.start();
    await publisher(broker, { source: '/t' }).publish('t.a', 1);
    await signalled;
    watcher.stop();
    reader.close();
    assert.equal(seen, 1, 'the commit is visible when the signal arrives');
  });

  it('acks of one turn delete exactly the acked leases, runs as ranges and the rest as a list', async () => {
    const path = freshPath();
    const broker = sqliteBroker({ path });
    const { got, sub } = await hold(broker, 'acks', 40);
    const events = publisher(broker, { source: '/t' });
    await Promise.all(Array.from({ length: 30 }, (_, i) => events.publish('t.a', i)));
    await settle();
    assert.equal(got.length, 30);
    // Held but not acked: one inside what would otherwise be one long run, and two isolated gaps.
    const keep = new Set([2, 10, 12]);
    await Promise.all(got.filter((_, i) => !keep.has(i)).map((d) => d.ack()));
    const observer = new DatabaseSync(path);
    const left = observer.prepare('SELECT seq FROM leases WHERE grp = ? ORDER BY seq').all('acks') as {
      seq: number;
    }[];
    observer.close();
    assert.deepEqual(
      left.map((r) => String(r.seq)),
      [...keep].map((i) => got[i]!.position),
    );
    await sub.close();
  });

  it('validates its options, naming the field', () => {
    assert.throws(() => sqliteBroker({ path: '' }), /sqliteBroker.path must be a non-empty string/);
    assert.throws(
      () => sqliteBroker({ path: freshPath(), visibilityTimeoutMs: 0 }),
      /sqliteBroker.visibilityTimeoutMs must be an integer >= 3/,
    );
    assert.throws(
      () => sqliteBroker({ path: freshPath(), synchronous: 'OFF' as never }),
      /sqliteBroker.synchronous must be FULL, NORMAL or EXTRA/,
    );
  });
});
