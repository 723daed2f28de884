import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock, sleep, systemClock } from './clock.ts';

describe('FakeClock', () => {
  it('fires timers in due order and lets promise chains settle between them', async () => {
    const clock = new FakeClock(0);
    const log: string[] = [];
    clock.setTimeout(() => log.push('b@20'), 20);
    clock.setTimeout(() => {
      log.push('a@10');
      void Promise.resolve().then(() => clock.setTimeout(() => log.push('c@15'), 5));
    }, 10);
    await clock.advance(25);
    assert.deepEqual(log, ['a@10', 'c@15', 'b@20']);
    assert.equal(clock.now(), 25);
    assert.equal(clock.pendingTimers, 0);
  });

  it('clearTimeout removes a timer', async () => {
    const clock = new FakeClock();
    let fired = false;
    const handle = clock.setTimeout(() => {
      fired = true;
    }, 5);
    clock.clearTimeout(handle);
    await clock.advance(10);
    assert.equal(fired, false);
  });
});

describe('sleep', () => {
  it('resolves after the delay on the given clock', async () => {
    const clock = new FakeClock();
    let done = false;
    const p = sleep(clock, 100).then(() => {
      done = true;
    });
    await clock.advance(99);
    assert.equal(done, false);
    await clock.advance(1);
    await p;
    assert.equal(done, true);
  });

  it('rejects at once on abort and leaves no timer', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const p = sleep(clock, 1_000, controller.signal);
    controller.abort(new Error('stop'));
    await assert.rejects(p, /stop/);
    assert.equal(clock.pendingTimers, 0);
  });

  it('system clock timers do not keep the process alive', () => {
    const handle = systemClock.setTimeout(() => {}, 60_000) as NodeJS.Timeout;
    assert.equal(handle.hasRef(), false);
    systemClock.clearTimeout(handle);
  });

  it('system clock timers scheduled with { ref: true } keep the process alive, like Node timers', () => {
    const handle = systemClock.setTimeout(() => {}, 60_000, { ref: true }) as NodeJS.Timeout;
    assert.equal(handle.hasRef(), true);
    systemClock.clearTimeout(handle);
  });

  it('the fake clock counts ref timers, and sleep passes its options on', async () => {
    const clock = new FakeClock();
    const waiting = sleep(clock, 100, undefined, { ref: true });
    clock.setTimeout(() => {}, 50);
    assert.equal(clock.pendingTimers, 2);
    assert.equal(clock.refTimers, 1);
    await clock.advance(100);
    await waiting;
    assert.equal(clock.refTimers, 0);
  });
});
