import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, MeshError } from '@meshkit/core';
import { parseGrpcPushback, parseRetryAfter, pushbackMs } from './retry-after.ts';

const now = Date.parse('2025-01-01T00:00:00Z');

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    assert.equal(parseRetryAfter('3', now), 3_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('120', now), 120_000);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', now), 5_000);
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:59:00 GMT', now), 0);
  });

  it('returns undefined for missing or malformed values', () => {
    for (const bad of [undefined, null, '', '-1', '1.5', 'soon', '3 seconds', '12:00']) {
      assert.equal(parseRetryAfter(bad, now), undefined, String(bad));
    }
  });
});

describe('pushback', () => {
  it('reads gRPC pushback; a negative or malformed value means do not retry', () => {
    assert.equal(parseGrpcPushback('250'), 250);
    assert.equal(parseGrpcPushback('-1'), Infinity);
    assert.equal(parseGrpcPushback('abc'), Infinity);
    assert.equal(parseGrpcPushback(undefined), undefined);
  });

  it('finds pushback on an error: retryAfterMs, then Retry-After, then grpc-retry-pushback-ms', () => {
    const err = (details: Record<string, unknown>) =>
      new MeshError(ErrorCode.HTTP_STATUS, 'unavailable', { retryable: true, details });
    assert.equal(pushbackMs(err({ retryAfterMs: 700 }), now), 700);
    assert.equal(pushbackMs(err({ headers: { 'retry-after': '2' } }), now), 2_000);
    assert.equal(pushbackMs(err({ headers: { 'retry-after': ['4', '9'] } }), now), 4_000);
    assert.equal(pushbackMs(err({ metadata: { 'grpc-retry-pushback-ms': '40' } }), now), 40);
    assert.equal(pushbackMs(err({ metadata: { 'grpc-retry-pushback-ms': '-1' } }), now), Infinity);
    assert.equal(pushbackMs(err({}), now), undefined);
    assert.equal(pushbackMs(new Error('plain'), now), undefined);
    assert.equal(pushbackMs('not an object', now), undefined);
  });
});
