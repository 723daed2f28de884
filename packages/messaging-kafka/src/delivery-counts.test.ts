import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeliveryCounts } from './delivery-counts.ts';

describe('DeliveryCounts', () => {
  it('reports unknown for records already in the partition when the member got it', () => {
    const c = new DeliveryCounts();
    const token = c.assigned('t:0');
    assert.equal(c.handOut('t:0', 5n), undefined, 'the end offset is not known yet');
    c.endOffsetAt('t:0', token, 10n);
    assert.equal(
      c.handOut('t:0', 9n),
      undefined,
      'below the end at assignment: a previous owner may have had it',
    );
    assert.equal(c.handOut('t:0', 10n), 1, 'published after the member took the partition');
  });

  it('counts this member’s own hand-outs until a commit passes them', () => {
    const c = new DeliveryCounts();
    c.endOffsetAt('t:0', c.assigned('t:0'), 0n);
    assert.equal(c.handOut('t:0', 3n), 1);
    assert.equal(c.handOut('t:0', 3n), 2, 'handed out again (the consumer was reopened)');
    assert.equal(c.handOut('t:0', 3n), 3);
    c.committed('t:0', 4n);
    assert.equal(c.handOut('t:0', 3n), 1, 'forgotten once committed (not fetched again in practice)');
  });

  it('does not count a release', () => {
    const c = new DeliveryCounts();
    c.endOffsetAt('t:0', c.assigned('t:0'), 0n);
    assert.equal(c.handOut('t:0', 1n), 1);
    c.released('t:0', 1n);
    assert.equal(c.handOut('t:0', 1n), 1);
  });

  it('after the consumer was lost, a first hand-out is unknown again but earlier counts stay', () => {
    const c = new DeliveryCounts();
    c.endOffsetAt('t:0', c.assigned('t:0'), 0n);
    assert.equal(c.handOut('t:0', 1n), 1);
    c.lost();
    assert.equal(c.handOut('t:0', 1n), 2, 'at least twice');
    assert.equal(c.handOut('t:0', 2n), undefined, 'another member may have held the partition meanwhile');
  });

  it('ignores a late end offset for an older ownership and forgets revoked partitions', () => {
    const c = new DeliveryCounts();
    const old = c.assigned('t:0');
    c.assigned('t:0');
    c.endOffsetAt('t:0', old, 0n);
    assert.equal(c.handOut('t:0', 0n), undefined);
    c.revoked('t:0');
    assert.equal(c.handOut('t:0', 0n), undefined, 'a partition back from another member starts unknown');
  });

  it('counts each earlier read that covered a record, and only what is above the commit', () => {
    const c = new DeliveryCounts();
    c.endOffsetAt('t:0', c.assigned('t:0'), 0n);
    for (let o = 0n; o < 10n; o++) assert.equal(c.handOut('t:0', o), 1);
    // The consumer was reopened and reads again from the last commit, 5.
    c.committed('t:0', 5n);
    for (let o = 5n; o < 8n; o++) assert.equal(c.handOut('t:0', o), 2);
    c.released('t:0', 7n);
    // And once more from 6: 6 was handed out twice before, 7 twice with one given back.
    c.committed('t:0', 6n);
    assert.equal(c.handOut('t:0', 6n), 3);
    assert.equal(c.handOut('t:0', 7n), 2);
    assert.equal(c.handOut('t:0', 8n), 2, 'only the first read reached 8');
    assert.equal(c.handOut('t:0', 10n), 1, 'never handed out before');
    c.committed('t:0', 11n);
    assert.equal(c.handOut('t:0', 11n), 1);
  });
});
