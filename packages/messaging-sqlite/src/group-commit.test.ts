import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { GroupCommit } from './group-commit.ts';
import { WalSync } from './wal-sync.ts';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-gc-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function open(busyTimeoutMs = 1_000) {
  const path = join(dir, `g${n++}.db`);
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 0; CREATE TABLE t (x INTEGER UNIQUE)');
  return { path, db, gc: new GroupCommit(db, busyTimeoutMs, 'FULL', 'NORMAL') };
}
const mode = (db: DatabaseSync) =>
  (db.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous;
const count = (db: DatabaseSync) => (db.prepare('SELECT COUNT(*) AS c FROM t').get() as { c: number }).c;

describe('GroupCommit', () => {
  it('commits every write of one turn in one transaction, each failure alone', async () => {
    const { db, gc } = open();
    const insert = db.prepare('INSERT INTO t (x) VALUES (?)');
    const results = await Promise.allSettled([
      gc.submit(() => insert.run(1)),
      gc.submit(() => {
        insert.run(2);
        insert.run(1); // violates UNIQUE: this operation, and only it, is undone
      }),
      gc.submit(() => insert.run(3)),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal(gc.commits, 1);
    assert.deepEqual(
      (db.prepare('SELECT x FROM t ORDER BY x').all() as { x: number }[]).map((r) => r.x),
      [1, 3],
    );
  });

  it('uses the durable mode only for transactions that need it', async () => {
    const { db, gc } = open();
    assert.equal(await gc.submit(() => mode(db)), 1, 'NORMAL for claims and the like');
    assert.equal(await gc.submit(() => mode(db), 'durable'), 2, 'FULL for publishes');
    const both = await Promise.all([gc.submit(() => mode(db)), gc.submit(() => mode(db), 'durable')]);
    assert.deepEqual(both, [2, 2], 'one durable operation makes the whole commit durable');
  });

  it('durable-after: a relaxed commit whose promise waits for a sync of the WAL', async () => {
    const { path, db } = open();
    const walSync = new WalSync(`${path}-wal`);
    assert.ok(walSync.open());
    const gc = new GroupCommit(db, 1_000, 'FULL', 'NORMAL', { walSync });
    const write = gc.submit(() => {
      db.prepare('INSERT INTO t (x) VALUES (1)').run();
      return mode(db);
    }, 'durable-after');
    assert.equal(await write, 1, 'committed with NORMAL: no fsync on the event loop');
    assert.equal(walSync.syncs, 1, 'resolved only after the WAL sync');
    // In a durable transaction it needs no sync of its own.
    const mixed = await Promise.all([
      gc.submit(() => mode(db), 'durable-after'),
      gc.submit(() => mode(db), 'durable'),
    ]);
    assert.deepEqual(mixed, [2, 2]);
    assert.equal(walSync.syncs, 1);
    // Without a WalSync it is simply durable.
    const plain = new GroupCommit(db, 1_000, 'FULL', 'NORMAL');
    assert.equal(await plain.submit(() => mode(db), 'durable-after'), 2);
    walSync.close();
  });

  it('waits for another connection’s write lock from the event loop, then commits', async () => {
    const { path, db, gc } = open(5_000);
    const blocker = new DatabaseSync(path);
    blocker.exec('BEGIN IMMEDIATE');
    let done = false;
    const write = gc
      .submit(() => db.prepare('INSERT INTO t (x) VALUES (1)').run())
      .then(() => {
        done = true;
      });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(done, false, 'still waiting, and the event loop kept running');
    blocker.exec('COMMIT');
    blocker.close();
    await write;
    assert.equal(count(db), 1);
  });

  it('poke() retries a write waiting for the lock at once, not at its next timer', async () => {
    const { path, db } = open();
    // A retry interval far beyond the test's time limit: only the poke can let the write through.
    const gc = new GroupCommit(db, 600_000, 'FULL', 'NORMAL', { busyRetryMs: 600_000 });
    const blocker = new DatabaseSync(path);
    blocker.exec('BEGIN IMMEDIATE');
    const write = gc.submit(() => db.prepare('INSERT INTO t (x) VALUES (1)').run());
    for (let i = 0; i < 6; i++) await new Promise((r) => setImmediate(r));
    gc.poke(); // still locked: it tries once more and goes back to waiting
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    assert.equal(count(db), 0);
    blocker.exec('COMMIT');
    blocker.close();
    gc.poke();
    await write;
    assert.equal(count(db), 1);
  });

  it('gives up after busyTimeoutMs with a retryable error', async () => {
    const { path, gc, db } = open(20);
    const blocker = new DatabaseSync(path);
    blocker.exec('BEGIN IMMEDIATE');
    await assert.rejects(
      gc.submit(() => db.prepare('INSERT INTO t (x) VALUES (1)').run()),
      (e: unknown) =>
        (e as { code?: string; retryable?: boolean }).code === 'ERR_BROKER_REJECTED' &&
        (e as { retryable: boolean }).retryable,
    );
    blocker.exec('ROLLBACK');
    blocker.close();
  });

  it('abandon() fails what is queued and commits nothing', async () => {
    const { db, gc } = open();
    const queued = gc.submit(() => db.prepare('INSERT INTO t (x) VALUES (1)').run());
    gc.abandon();
    await assert.rejects(queued, { code: 'ERR_CLOSED' });
    await assert.rejects(
      gc.submit(() => 1),
      { code: 'ERR_CLOSED' },
    );
    assert.equal(count(db), 0);
  });
});
