import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FakeClock } from './clock.ts';
import { TimerQueue, TimerTask } from './timer-queue.ts';

describe('TimerQueue', () => {
  it('fires entries at their due time, in order, with one real timer per delay', async () => {
    const clock = new FakeClock();
    const timers = new TimerQueue(clock);
    const fired: string[] = [];
    timers.schedule(100, () => fired.push('a'));
    await clock.advance(30);
    timers.schedule(100, () => fired.push('b'));
    timers.schedule(50, () => fired.push('c'));
    assert.equal(clock.pendingTimers, 2, 'one timer for the 100 ms lane, one for the 50 ms lane');
    await clock.advance(49);
    assert.deepEqual(fired, []);
    await clock.advance(1);
    assert.deepEqual(fired, ['c']);
    await clock.advance(20);
    assert.deepEqual(fired, ['c', 'a']);
    await clock.advance(30);
    assert.deepEqual(fired, ['c', 'a', 'b']);
    assert.equal(clock.pendingTimers, 0, 'no timer left once every entry fired');
  });

  it('never fires a cancelled entry and leaves no timer once the armed one passes', async () => {
    const clock = new FakeClock();
    const timers = new TimerQueue(clock);
    let fired = 0;
    for (let i = 0; i < 1_000; i++) timers.schedule(250, () => fired++).cancel();
    assert.equal(timers.size, 0, 'cancelled head entries are trimmed at once');
    assert.ok(clock.pendingTimers <= 1);
    await clock.advance(250);
    assert.equal(fired, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it('re-arms for the next live entry after the head is cancelled', async () => {
    const clock = new FakeClock();
    const timers = new TimerQueue(clock);
    const fired: number[] = [];
    const first = timers.schedule(100, () => fired.push(1));
    await clock.advance(40);
    timers.schedule(100, () => fired.push(2));
    first.cancel();
    await clock.advance(60);
    assert.deepEqual(fired, []);
    await clock.advance(40);
    assert.deepEqual(fired, [2]);
  });

  it('fires every live entry exactly once, whatever the order of schedules, cancels and ticks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            delay: fc.integer({ min: 0, max: 50 }),
            cancel: fc.boolean(),
            gap: fc.integer({ min: 0, max: 20 }),
          }),
          { maxLength: 40 },
        ),
        async (ops) => {
          const clock = new FakeClock();
          const timers = new TimerQueue(clock);
          const firedAt = new Map<number, number>();
          const expected = new Map<number, number>();
          for (const [i, op] of ops.entries()) {
            const entry = timers.schedule(op.delay, () => firedAt.set(i, clock.now()));
            if (op.cancel) entry.cancel();
            else expected.set(i, clock.now() + op.delay);
            await clock.advance(op.gap);
          }
          await clock.advance(100);
          assert.deepEqual(new Map([...firedAt].sort((a, b) => a[0] - b[0])), expected);
          assert.equal(clock.pendingTimers, 0);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('TimerQueue lanes', () => {
  it('drops a lane once its timer fires with nothing left, so varying delays do not accumulate', async () => {
    const clock = new FakeClock();
    const timers = new TimerQueue(clock);
    let fired = 0;
    for (let delay = 1; delay <= 500; delay++) timers.schedule(delay, () => fired++).cancel();
    timers.schedule(700, () => fired++);
    assert.equal(timers.lanes, 501);
    await clock.advance(600);
    assert.equal(timers.lanes, 1, 'only the lane with a live entry remains');
    await clock.advance(100);
    assert.equal(fired, 1);
    assert.equal(timers.lanes, 0);
    assert.equal(clock.pendingTimers, 0);
  });
});

/** A task that records when it fired, as a per-call state object would. */
class Recorder extends TimerTask {
  readonly clock: FakeClock;
  readonly firedAt: number[] = [];
  constructor(clock: FakeClock) {
    super();
    this.clock = clock;
  }
  fire(): void {
    this.firedAt.push(this.clock.now());
  }
}

describe('TimerTask', () => {
  it('fires an added task once at its due time, sharing the lane of schedule() entries', async () => {
    const clock = new FakeClock();
    const timers = new TimerQueue(clock);
    const task = new Recorder(clock);
    const fired: string[] = [];
    timers.schedule(100, () => fired.push('callback'));
    timers.add(task, 100);
    assert.equal(clock.pendingTimers, 1, 'one real timer for the 100 ms lane');
    await clock.advance(99);
    assert.deepEqual(task.firedAt, []);
    await clock.advance(1);
    assert.deepEqual(task.firedAt, [clock.now()]);
    assert.deepEqual(fired, ['callback']);
    task.cancel(); // after firing: nothing to do
    await clock.advance(1_000);
    assert.equal(task.firedAt.length, 1);
    assert.equal(clock.pendingTimers, 0);
    assert.equal(timers.size, 0);
  });

  it('never fires a cancelled task, trims it at once, and can be added again afterwards', async () => {
    const clock = new FakeClock();
    const timers = new TimerQueue(clock);
    const task = new Recorder(clock);
    timers.add(task, 50, clock.now());
    task.cancel();
    task.cancel();
    assert.equal(timers.size, 0);
    await clock.advance(50);
    assert.deepEqual(task.firedAt, []);
    timers.add(task, 50);
    await clock.advance(50);
    assert.equal(task.firedAt.length, 1);
    assert.equal(clock.pendingTimers, 0);
  });

  it('keeps due times exact when the lane outlives many periods', async () => {
    const clock = new FakeClock();
    const timers = new TimerQueue(clock);
    const tasks: Recorder[] = [];
    // A lane that stays busy: its origin is the first add, the due offsets grow from there.
    for (let i = 0; i < 5; i++) {
      const task = new Recorder(clock);
      tasks.push(task);
      timers.add(task, 100);
      await clock.advance(70);
    }
    await clock.advance(100);
    const start = 1_700_000_000_000;
    assert.deepEqual(
      tasks.map((t) => t.firedAt),
      [0, 1, 2, 3, 4].map((i) => [start + i * 70 + 100]),
    );
  });
});
