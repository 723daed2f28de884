import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AckCoalescer } from './ack-coalescer.ts';

/** A coalescer whose flushes run when the test says, recording the frames it sends. */
function harness() {
  const frames: [tag: number, multiple: boolean][] = [];
  let pending: (() => void) | undefined;
  let scheduled = 0;
  const acks = new AckCoalescer(
    (tag, multiple) => frames.push([tag, multiple]),
    (flush) => {
      scheduled++;
      pending = flush;
    },
  );
  const turn = () => {
    const flush = pending;
    pending = undefined;
    flush?.();
  };
  return { acks, frames, turn, scheduled: () => scheduled };
}

describe('AckCoalescer', () => {
  it('sends one multiple ack for a run of successes, scheduling one flush per turn', () => {
    const { acks, frames, turn, scheduled } = harness();
    for (let tag = 1; tag <= 5; tag++) acks.delivered(tag);
    for (let tag = 1; tag <= 5; tag++) acks.ack(tag);
    assert.deepEqual(frames, [], 'nothing is sent before the end of the turn');
    turn();
    assert.deepEqual(frames, [[5, true]]);
    assert.equal(scheduled(), 1);
    assert.equal(acks.outstanding, 0);
  });

  it('sends a lone ack without the multiple flag', () => {
    const { acks, frames, turn } = harness();
    acks.delivered(1);
    acks.delivered(2);
    acks.ack(2);
    acks.ack(1);
    acks.delivered(3);
    turn();
    acks.ack(3);
    turn();
    assert.deepEqual(frames, [
      [2, true],
      [3, false],
    ]);
  });

  it('never covers a delivery still running: acks after it go out one by one', () => {
    const { acks, frames, turn } = harness();
    for (let tag = 1; tag <= 6; tag++) acks.delivered(tag);
    for (const tag of [1, 2, 4, 6]) acks.ack(tag);
    turn();
    // 3 and 5 are still running: a multiple ack at 4 or 6 would ack them.
    assert.deepEqual(frames, [
      [2, true],
      [4, false],
      [6, false],
    ]);
    assert.equal(acks.outstanding, 2);
    acks.ack(3);
    acks.ack(5);
    turn();
    assert.deepEqual(frames.slice(3), [[5, true]]);
    assert.equal(acks.outstanding, 0);
  });

  it('never covers a failure in the middle of a run; a requeued delivery no longer interrupts it', () => {
    const { acks, frames, turn } = harness();
    for (let tag = 1; tag <= 5; tag++) acks.delivered(tag);
    acks.ack(1);
    acks.ack(2);
    // 3 failed and is being moved to a retry queue (republish, then ack): outstanding meanwhile.
    acks.ack(4);
    acks.ack(5);
    turn();
    assert.deepEqual(frames, [
      [2, true],
      [4, false],
      [5, false],
    ]);
    // 6 succeeds, 7 is released (nacked at once by the caller), 8 succeeds, all before 3's copy is confirmed.
    for (let tag = 6; tag <= 8; tag++) acks.delivered(tag);
    acks.ack(6);
    acks.settled(7);
    acks.ack(8);
    turn();
    assert.deepEqual(frames.slice(3), [
      [6, false],
      [8, false],
    ]);
    acks.ack(3);
    acks.delivered(9);
    acks.delivered(10);
    acks.settled(9);
    acks.ack(10);
    turn();
    // 3 then 10 in one frame: 4 to 8 are settled, 9 was nacked before this frame.
    assert.deepEqual(frames.slice(5), [[10, true]]);
    assert.equal(acks.outstanding, 0);
  });

  it('keeps a delivery left unsettled as a barrier, and ignores acks of unknown tags', () => {
    const { acks, frames, turn } = harness();
    for (let tag = 1; tag <= 3; tag++) acks.delivered(tag);
    acks.ack(2);
    acks.ack(3);
    acks.ack(42);
    turn();
    assert.deepEqual(frames, [
      [2, false],
      [3, false],
    ]);
    acks.ack(2);
    turn();
    assert.equal(frames.length, 2, 'an ack made twice is sent once');
    assert.equal(acks.outstanding, 1);
  });

  it('flushes on demand and forgets everything when cleared', () => {
    const { acks, frames, turn } = harness();
    acks.delivered(1);
    acks.delivered(2);
    acks.ack(1);
    acks.flush();
    assert.deepEqual(frames, [[1, false]]);
    acks.ack(2);
    acks.clear();
    turn();
    assert.deepEqual(frames, [[1, false]], 'a cleared coalescer sends nothing');
    assert.equal(acks.outstanding, 0);
  });

  it('flushes at the end of the turn by default', async () => {
    const frames: [number, boolean][] = [];
    const acks = new AckCoalescer((tag, multiple) => frames.push([tag, multiple]));
    for (let tag = 1; tag <= 3; tag++) acks.delivered(tag);
    // Acks made from promise reactions of the same turn join the same frame.
    await Promise.all([1, 2, 3].map(async (tag) => acks.ack(tag)));
    assert.deepEqual(frames, []);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    assert.deepEqual(frames, [[3, true]]);
  });
});
