import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { histogramQuantile } from './quantile.ts';

const inf = Number.POSITIVE_INFINITY;

describe('histogramQuantile', () => {
  it('interpolates inside the bucket the rank falls in, as PromQL does', () => {
    const buckets = new Map([
      [0.1, 10],
      [0.5, 20],
      [1, 30],
      [inf, 40],
    ]);
    assert.equal(histogramQuantile(0.5, buckets), 0.5); // rank 20: the top of (0.1, 0.5]
    assert.equal(histogramQuantile(0.25, buckets), 0.1); // rank 10: the top of the first bucket
    assert.ok(Math.abs(histogramQuantile(0.1, buckets) - 0.04) < 1e-12); // rank 4 in [0, 0.1]
    assert.ok(Math.abs(histogramQuantile(0.6, buckets) - 0.7) < 1e-12); // rank 24: 0.5 + 0.5 * 4/10
  });

  it('answers the highest finite bound when the rank falls in +Inf', () => {
    const buckets = new Map([
      [0.1, 1],
      [1, 2],
      [inf, 100],
    ]);
    assert.equal(histogramQuantile(0.99, buckets), 1);
  });

  it('is NaN without observations, without +Inf or with one bucket; ±Inf outside 0..1', () => {
    assert.ok(
      Number.isNaN(
        histogramQuantile(
          0.9,
          new Map([
            [0.1, 0],
            [inf, 0],
          ]),
        ),
      ),
    );
    assert.ok(
      Number.isNaN(
        histogramQuantile(
          0.9,
          new Map([
            [0.1, 1],
            [1, 2],
          ]),
        ),
      ),
    );
    assert.ok(Number.isNaN(histogramQuantile(0.9, new Map([[inf, 5]]))));
    assert.equal(
      histogramQuantile(
        -0.1,
        new Map([
          [0.1, 1],
          [inf, 1],
        ]),
      ),
      Number.NEGATIVE_INFINITY,
    );
    assert.equal(
      histogramQuantile(
        1.1,
        new Map([
          [0.1, 1],
          [inf, 1],
        ]),
      ),
      inf,
    );
  });

  it('repairs counts that decrease with the bound (a scrape that was not atomic)', () => {
    const buckets = new Map([
      [0.1, 10],
      [0.5, 8],
      [1, 20],
      [inf, 20],
    ]);
    // Treated as 10, 10, 20, 20: rank 15 lies in (0.5, 1].
    assert.ok(Math.abs(histogramQuantile(0.75, buckets) - 0.75) < 1e-12);
  });
});
