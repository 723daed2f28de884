import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { constantBackoff, exponentialBackoff } from './backoff.ts';
import { InvalidArgumentError } from './errors.ts';

const params = fc.record({
  base: fc.integer({ min: 0, max: 5_000 }),
  cap: fc.integer({ min: 0, max: 60_000 }),
  factor: fc.double({ min: 1, max: 4, noNaN: true }),
  retry: fc.integer({ min: 1, max: 40 }),
  previous: fc.integer({ min: 0, max: 120_000 }),
  rand: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
});

describe('backoff', () => {
  it('full jitter stays within [0, min(cap, base * factor^(retry-1))]', () => {
    fc.assert(
      fc.property(params, ({ base, cap, factor, retry, rand }) => {
        const b = exponentialBackoff({ baseDelayMs: base, maxDelayMs: cap, factor, random: () => rand });
        const d = b.delayMs(retry, 0);
        assert.ok(d >= 0 && d <= Math.min(cap, base * factor ** (retry - 1)), `delay ${d}`);
      }),
    );
  });

  it('equal jitter stays within [d / 2, d] for d = min(cap, base * factor^(retry-1))', () => {
    fc.assert(
      fc.property(params, ({ base, cap, factor, retry, rand }) => {
        const b = exponentialBackoff({
          baseDelayMs: base,
          maxDelayMs: cap,
          factor,
          jitter: 'equal',
          random: () => rand,
        });
        const d = Math.min(cap, base * factor ** (retry - 1));
        const delay = b.delayMs(retry, 0);
        assert.ok(delay >= d / 2 && delay <= d, `delay ${delay} outside [${d / 2}, ${d}]`);
      }),
    );
  });

  it('decorrelated jitter stays within [min(base, cap), min(cap, 3 * max(base, previous))]', () => {
    fc.assert(
      fc.property(params, ({ base, cap, retry, previous, rand }) => {
        const b = exponentialBackoff({
          baseDelayMs: base,
          maxDelayMs: cap,
          jitter: 'decorrelated',
          random: () => rand,
        });
        const d = b.delayMs(retry, previous);
        assert.ok(d >= Math.min(base, cap), `delay ${d} below the base`);
        assert.ok(d <= Math.min(cap, 3 * Math.max(base, previous)), `delay ${d} above the bound`);
      }),
    );
  });

  it('no jitter follows the capped curve and never shrinks from one retry to the next', () => {
    fc.assert(
      fc.property(params, ({ base, cap, factor, retry }) => {
        const b = exponentialBackoff({ baseDelayMs: base, maxDelayMs: cap, factor, jitter: 'none' });
        const d = b.delayMs(retry, 0);
        assert.equal(d, Math.min(cap, base * factor ** (retry - 1)));
        assert.ok(b.delayMs(retry + 1, d) >= d);
      }),
    );
  });

  it('uses real randomness by default and spreads delays out', () => {
    const b = exponentialBackoff({ baseDelayMs: 1_000, maxDelayMs: 1_000 });
    const seen = new Set(Array.from({ length: 20 }, () => b.delayMs(1, 0)));
    assert.ok(seen.size > 10, 'full jitter gives different delays');
  });

  it('constant backoff is constant', () => {
    const b = constantBackoff(250);
    assert.equal(b.delayMs(1, 0), 250);
    assert.equal(b.delayMs(9, 250), 250);
  });

  it('rejects bad options naming the field', () => {
    const cases: [() => unknown, string][] = [
      [() => constantBackoff(-1), 'constantBackoff.delayMs'],
      [() => exponentialBackoff({ baseDelayMs: -1 }), 'exponentialBackoff.baseDelayMs'],
      [() => exponentialBackoff({ maxDelayMs: Number.NaN }), 'exponentialBackoff.maxDelayMs'],
      [() => exponentialBackoff({ factor: 0.5 }), 'exponentialBackoff.factor'],
      [() => exponentialBackoff({ jitter: 'half' as never }), 'exponentialBackoff.jitter'],
      [() => exponentialBackoff({ random: 4 as never }), 'exponentialBackoff.random'],
    ];
    for (const [make, field] of cases) {
      assert.throws(make, (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
    }
  });
});
