import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FakeClock } from '@meshkit/core';
import { embeddedRegistry } from './embedded.ts';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-embedded-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('embeddedRegistry', () => {
  it('an entry deregistered by another process stays gone: the owner’s heartbeat does not revive it', async () => {
    const clock = new FakeClock(Date.now());
    const path = join(dir, 'a.db');
    const owner = embeddedRegistry({ path, clock, ttlMs: 900 });
    const admin = embeddedRegistry({ path, clock, ttlMs: 900 });
    await owner.register({ id: 'u1', service: 'users', address: '127.0.0.1', port: 8080 });
    await admin.deregister('u1');
    await clock.advance(300); // the owner's heartbeat runs
    assert.deepEqual(await admin.lookup('users'), []);
    assert.equal(clock.pendingTimers, 0, 'the owner stopped heartbeating');
    await owner.close();
    await admin.close();
  });

  it('lets another address claim an expired id, and the late owner does not take it back', async () => {
    const start = Date.now();
    const path = join(dir, 'b.db');
    // The owner is paused (a long GC, a stopped VM): its clock, and so its heartbeat, stands still.
    const paused = new FakeClock(start);
    const clock = new FakeClock(start);
    const slow = embeddedRegistry({ path, clock: paused, ttlMs: 900 });
    const other = embeddedRegistry({ path, clock, ttlMs: 900 });
    await slow.register({ id: 'u1', service: 'users', address: '127.0.0.1', port: 8080 });
    await clock.advance(901);
    await other.register({ id: 'u1', service: 'users', address: '127.0.0.2', port: 8080 });
    await paused.advance(300); // the owner wakes up and heartbeats
    assert.equal(paused.pendingTimers, 0, 'its heartbeat found the id taken and stopped');
    const found = await other.lookup('users');
    assert.deepEqual(
      found.map((i) => i.address),
      ['127.0.0.2'],
    );
    await slow.close();
    await other.close();
  });

  it('validates its options, naming the field', () => {
    assert.throws(() => embeddedRegistry({ path: '' }), /embeddedRegistry\.path must be a non-empty string/);
    assert.throws(
      () => embeddedRegistry({ path: join(dir, 'c.db'), ttlMs: 1_000, heartbeatIntervalMs: 2_000 }),
      /embeddedRegistry\.heartbeatIntervalMs must be between 1 and 1000/,
    );
    assert.throws(
      () => embeddedRegistry({ path: join(dir, 'c.db'), pollIntervalMs: 0 }),
      /pollIntervalMs must be >= 1/,
    );
  });

  it('refuses calls once closed with ERR_CLOSED', async () => {
    const registry = embeddedRegistry({ path: join(dir, 'd.db') });
    await registry.close();
    await assert.rejects(registry.lookup('users'), /embedded registry is closed/);
  });
});
