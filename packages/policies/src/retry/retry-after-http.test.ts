import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRetryAfter } from './retry-after.ts';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-10-21T07:28:00Z');

  it('reads delay-seconds', () => {
    assert.equal(parseRetryAfter('0', now), 0);
    assert.equal(parseRetryAfter(' 3 ', now), 3_000);
    assert.equal(parseRetryAfter(['7', '9'], now), 7_000);
  });

  it('reads an HTTP-date as the time until then, never negative', () => {
    assert.equal(parseRetryAfter('Wed, 21 Oct 2026 07:28:05 GMT', now), 5_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2026 07:27:00 GMT', now), 0);
  });

  it('ignores absent and malformed values', () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('-1', now), undefined);
    assert.equal(parseRetryAfter('1.5', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('21 Oct 2026', now), undefined);
  });
});
