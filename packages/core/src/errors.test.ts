import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  abortError,
  ErrorCode,
  InvalidArgumentError,
  isAbortError,
  isMeshError,
  MeshError,
} from './errors.ts';
import { checkInteger, checkNumber } from './validate.ts';

describe('MeshError', () => {
  it('carries code, flags, details and cause', () => {
    const cause = new Error('socket hang up');
    const err = new MeshError(ErrorCode.CONNECT, 'connect failed', {
      cause,
      retryable: true,
      rejected: true,
    });
    assert.equal(err.code, 'ERR_CONNECT');
    assert.equal(err.retryable, true);
    assert.equal(err.rejected, true);
    assert.equal(err.cause, cause);
    assert.ok(err instanceof Error);
  });

  it('is recognised across duplicated installs by its brand, not its class', () => {
    // A structurally separate copy of the class, as a second install would define it.
    const foreign = Object.create(Object.getPrototypeOf(new MeshError(ErrorCode.TIMEOUT, 'x')));
    assert.ok(isMeshError(foreign));
    const lookalike = { code: 'ERR_TIMEOUT', message: 'not branded' };
    assert.equal(isMeshError(lookalike), false);
    assert.equal(lookalike instanceof MeshError, false);
  });

  it('defaults to not retryable and not rejected', () => {
    const err = new MeshError(ErrorCode.HTTP_STATUS, '404');
    assert.equal(err.retryable, false);
    assert.equal(err.rejected, false);
    assert.deepEqual(err.details, {});
  });
});

describe('abort and budget markers', () => {
  it('abortError is the platform AbortError', () => {
    const err = abortError(new Error('why'));
    assert.equal(err.name, 'AbortError');
    assert.ok(isAbortError(err));
    assert.equal((err.cause as Error).message, 'why');
    const controller = new AbortController();
    controller.abort();
    assert.ok(isAbortError(controller.signal.reason));
  });
});

describe('option checks', () => {
  it('name the field and the rule', () => {
    assert.throws(
      () => checkInteger('retry.maxAttempts', 0, 1),
      (err: unknown) =>
        err instanceof InvalidArgumentError &&
        err.field === 'retry.maxAttempts' &&
        err.message === 'retry.maxAttempts must be an integer >= 1 (received 0)',
    );
    assert.throws(
      () => checkNumber('timeout.timeoutMs', 'soon', 0),
      /timeout\.timeoutMs must be a number \(received "soon"\)/,
    );
    assert.throws(() => checkNumber('x.ratio', 2, 0, 1), /x\.ratio must be between 0 and 1 \(received 2\)/);
    assert.equal(checkInteger('x.n', Infinity, 1), Infinity);
  });
});
