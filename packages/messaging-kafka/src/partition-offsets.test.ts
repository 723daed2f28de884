import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PartitionOffsets } from './partition-offsets.ts';

describe('PartitionOffsets', () => {
  it('commits only up to the first unsettled offset', () => {
    const p = new PartitionOffsets('t', 0, 10n);
    for (const o of [10n, 11n, 12n]) assert.equal(p.take(o), true);
    assert.equal(p.commitPoint(), undefined, 'nothing settled');
    p.settle(11n);
    p.settle(12n);
    assert.equal(p.commitPoint(), undefined, 'a gap at 10 holds 11 and 12 back');
    p.settle(10n);
    assert.equal(p.commitPoint(), 13n);
    p.committedTo(13n);
    assert.equal(p.commitPoint(), undefined);
    assert.equal(p.committed, 13n);
  });

  it('skips offsets already seen (a refetch after a rebalance kept the partition)', () => {
    const p = new PartitionOffsets('t', 0, 0n);
    assert.equal(p.take(0n), true);
    assert.equal(p.take(1n), true);
    assert.equal(p.take(0n), false);
    assert.equal(p.take(1n), false);
    assert.equal(p.unsettled, 2);
    assert.equal(p.take(2n), true);
  });

  it('follows gaps in offsets (compaction, transaction markers)', () => {
    const p = new PartitionOffsets('t', 0, 0n);
    p.take(0n);
    p.take(5n);
    p.settle(0n);
    assert.equal(p.commitPoint(), 5n);
    p.settle(5n);
    assert.equal(p.commitPoint(), 6n);
  });

  it('counts what is unsettled and forgets what is committed', () => {
    const p = new PartitionOffsets('t', 0, 0n);
    for (let i = 0n; i < 3_000n; i++) p.take(i);
    for (let i = 0n; i < 2_999n; i++) p.settle(i);
    assert.equal(p.unsettled, 1);
    assert.equal(p.commitPoint(), 2_999n);
    p.committedTo(2_999n);
    p.settle(2_999n);
    assert.equal(p.commitPoint(), 3_000n);
    assert.equal(p.unsettled, 0);
  });
});
