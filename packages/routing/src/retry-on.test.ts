import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { abortError, ErrorCode, MeshError } from '@meshkit/core';
import { retryPredicate } from './index.ts';

const http = (status: number, rejected = false) =>
  new MeshError(ErrorCode.HTTP_STATUS, 'x', { details: { status }, rejected });
const grpc = (grpcStatus: number) => new MeshError(ErrorCode.GRPC_STATUS, 'x', { details: { grpcStatus } });
const err = (code: string, rejected = false) => new MeshError(code as ErrorCode, 'x', { rejected });

describe('retryOn', () => {
  it('5xx: any 5xx status, connection failures and attempt timeouts', () => {
    const p = retryPredicate(['5xx'], []);
    assert.deepEqual(
      [500, 503, 599, 404, 429].map((s) => p(http(s))),
      [true, true, true, false, false],
    );
    assert.equal(p(err(ErrorCode.CONNECT)), true);
    assert.equal(p(err(ErrorCode.CONNECTION_RESET)), true);
    assert.equal(p(err(ErrorCode.TIMEOUT)), true);
    assert.equal(p(grpc(14)), false);
  });

  it('gateway-error: 502, 503, 504 only', () => {
    const p = retryPredicate(['gateway-error'], []);
    assert.deepEqual(
      [500, 502, 503, 504].map((s) => p(http(s))),
      [false, true, true, true],
    );
  });

  it('reset, connect-failure, refused-stream', () => {
    assert.equal(retryPredicate(['reset'], [])(err(ErrorCode.CONNECTION_RESET)), true);
    assert.equal(retryPredicate(['reset'], [])(http(503)), false);
    assert.equal(retryPredicate(['connect-failure'], [])(err(ErrorCode.CONNECT)), true);
    assert.equal(retryPredicate(['connect-failure'], [])(err(ErrorCode.CONNECTION_RESET)), false);
    assert.equal(retryPredicate(['refused-stream'], [])(http(503, true)), true);
    assert.equal(retryPredicate(['refused-stream'], [])(http(503)), false);
  });

  it('retriable-4xx is 409; retriable-status-codes are the listed statuses', () => {
    assert.equal(retryPredicate(['retriable-4xx'], [])(http(409)), true);
    assert.equal(retryPredicate(['retriable-4xx'], [])(http(404)), false);
    const p = retryPredicate(['retriable-status-codes'], [500, 429]);
    assert.deepEqual(
      [500, 429, 503].map((s) => p(http(s))),
      [true, true, false],
    );
    assert.equal(retryPredicate([], [500])(http(500)), false, 'the codes need the condition');
  });

  it('gRPC conditions match their status', () => {
    const p = retryPredicate(
      ['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'],
      [],
    );
    assert.deepEqual(
      [1, 4, 8, 13, 14, 2, 5].map((c) => p(grpc(c))),
      [true, true, true, true, true, false, false],
    );
    assert.equal(retryPredicate(['unavailable'], [])(grpc(13)), false);
  });

  it('deadline-exceeded matches a DEADLINE_EXCEEDED status (ERR_DEADLINE_EXCEEDED), not a local deadline without one', () => {
    const status = new MeshError(ErrorCode.DEADLINE_EXCEEDED, 'x', { details: { grpcStatus: 4 } });
    assert.equal(retryPredicate(['deadline-exceeded'], [])(status), true);
    assert.equal(retryPredicate(['unavailable'], [])(status), false);
    assert.equal(retryPredicate(['deadline-exceeded'], [])(err(ErrorCode.DEADLINE_EXCEEDED)), false);
  });

  it('never retries a cancellation, an expired deadline or a foreign error', () => {
    const p = retryPredicate(['5xx', 'reset', 'connect-failure', 'refused-stream'], []);
    assert.equal(p(abortError()), false);
    assert.equal(p(err(ErrorCode.DEADLINE_EXCEEDED)), false);
    assert.equal(p(new Error('boom')), false);
  });
});
