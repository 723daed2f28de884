import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WalSync } from './wal-sync.ts';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-walsync-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function fresh(): WalSync {
  const path = join(dir, `w${n++}-wal`);
  writeFileSync(path, 'frames');
  const sync = new WalSync(path);
  assert.ok(sync.open());
  return sync;
}
const waitFor = (sync: WalSync) =>
  new Promise<Error | undefined>((resolve) => sync.after((error) => resolve(error)));

describe('WalSync', () => {
  it('answers every waiter after a sync that began after it asked, sharing syncs', async () => {
    const sync = fresh();
    const first = waitFor(sync); // starts a sync at once
    const second = waitFor(sync); // asked while it runs: needs the next one
    const third = waitFor(sync); // shares the next one with `second`
    assert.deepEqual(await Promise.all([first, second, third]), [undefined, undefined, undefined]);
    assert.equal(sync.syncs, 2);
    sync.close();
  });

  it('close() syncs on the spot for whoever still waits; later waiters are refused', async () => {
    const sync = fresh();
    const running = waitFor(sync);
    const queued = waitFor(sync);
    sync.close();
    assert.equal(await queued, undefined);
    assert.equal(await running, undefined);
    assert.match(String(await waitFor(sync)), /closed/);
  });

  it('abandon() tells every waiter its commit may not be on disk, as a crash would', async () => {
    const sync = fresh();
    const running = waitFor(sync);
    const queued = waitFor(sync);
    sync.abandon();
    assert.match(String(await running), /abandoned/);
    assert.match(String(await queued), /abandoned/);
    assert.match(String(await waitFor(sync)), /closed/);
  });

  it('cannot open a missing file (the caller then commits with FULL)', () => {
    assert.equal(new WalSync(join(dir, 'missing', 'x-wal')).open(), false);
  });
});
