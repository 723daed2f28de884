import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { FakeClock, systemClock } from '@meshkit/core';
import { CommitSignal, CommitWatcher, wakePath } from './commit-watcher.ts';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-watch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('CommitWatcher', () => {
  it('a signal after a commit wakes the watcher long before the idle poll, once the commit is visible', async () => {
    const path = join(dir, 'w.db');
    const writer = new DatabaseSync(path);
    writer.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (x)');
    const reader = new DatabaseSync(path);
    const signal = new CommitSignal(wakePath(path));
    signal.open();
    let rows = -1;
    let notify: () => void = () => {};
    const checked = new Promise<void>((resolve) => {
      notify = resolve;
    });
    const watcher = new CommitWatcher({
      path: wakePath(path),
      check: () => {
        rows = (reader.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n;
        notify();
      },
      idlePollMs: 60_000,
      fallbackPollMs: 2,
      clock: systemClock,
    });
    watcher.start();
    const t0 = performance.now();
    writer.exec('INSERT INTO t VALUES (1)');
    signal.notify();
    // A referenced guard: the watch is not persistent and the idle timer is unref'd, so without it the
    // event loop may find nothing left to wait for before the file event arrives (it does on Node 22).
    let guard: NodeJS.Timeout | undefined;
    await Promise.race([
      checked,
      new Promise((_, reject) => {
        guard = setTimeout(() => reject(new Error('no check within 5 s')), 5_000);
      }),
    ]).finally(() => clearTimeout(guard));
    const waited = performance.now() - t0;
    watcher.stop();
    for (let i = 0; i < 5; i++) signal.notify();
    signal.close();
    writer.close();
    reader.close();
    assert.equal(rows, 1, 'the first check already sees the commit');
    assert.ok(waited < 1_000, `woke after ${waited} ms, not after the 60 s idle poll`);
    assert.equal(statSync(wakePath(path)).size, 1, 'signals rewrite one byte, the file never grows');
  });

  it('without a file to watch it polls at the fast interval', async () => {
    const clock = new FakeClock();
    let checks = 0;
    const watcher = new CommitWatcher({
      path: join(dir, 'missing', 'x.db-wake'),
      check: () => checks++,
      idlePollMs: 25,
      fallbackPollMs: 2,
      clock,
    });
    watcher.start();
    await clock.advance(2);
    assert.equal(checks, 1);
    await clock.advance(20);
    assert.equal(checks, 11);
    watcher.stop();
    await clock.advance(100);
    assert.equal(checks, 11, 'stopped');
    assert.equal(clock.pendingTimers, 0);
  });
});
