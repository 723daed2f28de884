import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeAttributes, encodeAttributes, headerNames } from './envelope.ts';
import { retrySchedule } from './retry-schedule.ts';

describe('CloudEvents envelope', () => {
  it('round-trips the attributes through binary-mode headers', () => {
    const attrs = {
      id: 'e1',
      source: '/users',
      type: 'user.created',
      time: '2026-01-01T00:00:00.000Z',
      subject: '42',
      contentType: 'application/json',
    };
    const headers = encodeAttributes(attrs, { traceparent: 'tp' });
    assert.equal(headers['ce-specversion'], '1.0');
    assert.equal(headers.traceparent, 'tp');
    assert.deepEqual(decodeAttributes(headers), attrs);
  });

  it('extra headers never override the CloudEvents attributes', () => {
    const headers = encodeAttributes(
      { id: 'real', source: '/s', type: 't', time: 'x', contentType: 'application/json' },
      { 'ce-id': 'forged', 'ce-specversion': '0.3' },
    );
    assert.equal(headers['ce-id'], 'real');
    assert.equal(headers['ce-specversion'], '1.0');
  });

  it('names the first missing required attribute', () => {
    assert.deepEqual(decodeAttributes({}), { missing: headerNames.id });
    assert.deepEqual(decodeAttributes({ 'ce-id': 'x', 'ce-source': '/s', 'ce-type': 't' }), {
      missing: headerNames.specVersion,
    });
  });
});

describe('retry schedule', () => {
  it('grows exponentially, stays within [d/2, d] and never exceeds the cap', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        (attempt, r) => {
          const schedule = retrySchedule({ baseDelayMs: 100, maxDelayMs: 10_000, random: () => r });
          const full = Math.min(10_000, 100 * 2 ** (attempt - 1));
          const delay = schedule.delayAfter(attempt);
          return delay >= Math.floor(full / 2) && delay <= full;
        },
      ),
    );
  });
});
