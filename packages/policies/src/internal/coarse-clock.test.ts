import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock, systemClock } from '@meshkit/core';
import { coarseNow } from './coarse-clock.ts';

describe('coarseNow', () => {
  it('reads any clock but the system clock directly, so fake time stays exact', async () => {
    const clock = new FakeClock();
    assert.equal(coarseNow(clock), clock.now());
    await clock.advance(7);
    assert.equal(coarseNow(clock), clock.now());
  });

  it("gives the system time to within a few milliseconds, with no ref'd timer", () => {
    const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const refd = timeouts();
    const before = Date.now();
    const coarse = coarseNow(systemClock);
    const after = Date.now();
    assert.ok(coarse >= before - 2 && coarse <= after, `${coarse} not in [${before - 2}, ${after}]`);
    assert.ok(coarseNow(systemClock) <= Date.now());
    assert.equal(timeouts(), refd, "the refresh interval is unref'd");
  });
});
