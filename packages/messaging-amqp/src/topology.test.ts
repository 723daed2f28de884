import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { delayStep, workQueueOptions } from './topology.ts';

describe('topology', () => {
  it('rounds delays to quarter powers of two, within 9 %', () => {
    assert.equal(delayStep(0), 0);
    assert.equal(delayStep(-5), 0);
    assert.equal(delayStep(1_000), 1_024);
    for (let d = 1; d < 3_600_000; d = Math.ceil(d * 1.07)) {
      const step = delayStep(d);
      // 2^(1/8) = 1.0905 at worst, plus rounding to whole milliseconds.
      assert.ok(Math.abs(step - d) <= 0.0905 * d + 0.5, `${d} -> ${step}`);
    }
  });

  it('uses few delay queues for a jittered backoff up to a minute', () => {
    const steps = new Set<number>();
    for (let d = 500; d <= 60_000; d += 7) steps.add(delayStep(d));
    assert.ok(steps.size <= 30, `${steps.size} queues`);
  });

  it('declares classic queues without arguments (as a stock consumer does), quorum with a delivery limit', () => {
    assert.deepEqual(workQueueOptions('classic', 20, 'g'), { durable: true });
    assert.deepEqual(workQueueOptions('quorum', 20, 'g').arguments, {
      'x-queue-type': 'quorum',
      'x-delivery-limit': 20,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'g.dlq',
    });
  });
});
