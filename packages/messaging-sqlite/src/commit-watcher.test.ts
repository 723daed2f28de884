import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { FakeClock, systemClock } from '@meshkit/core';
import { CommitWatcher } from './commit-watcher.ts';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-watch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('CommitWatcher', () => {
  it('a write to the WAL file starts checks long before the idle poll would', async () => {
    const path = join(dir, 'w.db');
    const writer = new DatabaseSync(path);
    writer.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (x)');
    let checks = 0;
    let notify: () => void = () => {};
    const checked = new Promise<void>((resolve) => {
      notify = resolve;
    });
    const watcher = new CommitWatcher({
      walPath: `${path}-wal`,
      check: () => {
        checks++;
        notify();
      },
      idlePollMs: 60_000,
      burstPollMs: 1,
      burstMs: 5,
      clock: systemClock,
    });
    watcher.start();
    const t0 = performance.now();
    writer.exec('INSERT INTO t VALUES (1)');
    await Promise.race([
      checked,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no check within 5 s')), 5_000).unref()),
    ]);
    const waited = performance.now() - t0;
    watcher.stop();
    writer.close();
    assert.ok(checks >= 1);
    assert.ok(waited < 1_000, `woke after ${waited} ms, not after the 60 s idle poll`);
  });

  it('without a file to watch it polls at the fast interval', async () => {
    const clock = new FakeClock();
    let checks = 0;
    const watcher = new CommitWatcher({
      walPath: join(dir, 'missing', 'x.db-wal'),
      check: () => checks++,
      idlePollMs: 25,
      burstPollMs: 1,
      burstMs: 10,
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
