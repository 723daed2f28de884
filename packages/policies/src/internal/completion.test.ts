import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Completion,
  completable,
  createContext,
  ErrorCode,
  FakeClock,
  isMeshError,
  readinessOf,
  type Service,
  stack,
} from '@meshkit/core';
import { bulkhead } from '../bulkhead/index.ts';
import { circuitBreaker } from '../circuit-breaker/index.ts';
import { consecutiveFailures } from '../circuit-breaker/strategies.ts';
import { deadline } from '../timeout/index.ts';

/** A transport whose every result is a stream the test ends by hand. */
function streams(): { service: Service<string, object>; open: Completion[] } {
  const open: Completion[] = [];
  const service: Service<string, object> = async () => {
    const result = { streamed: true };
    open.push(completable(result));
    return result;
  };
  return { service, open };
}

describe('policies over streamed results', () => {
  for (const fused of [true, false]) {
    it(`a bulkhead slot is held until the stream is over (${fused ? 'fused' : 'layered'} path)`, async () => {
      const { service, open } = streams();
      const limit = bulkhead<string, object>({ maxConcurrent: 1, maxQueue: 0 });
      const layers = fused
        ? [circuitBreaker<string, object>(), limit]
        : [limit, deadline<string, object>({ timeoutMs: 60_000 })];
      const call = stack(...layers).wrap(service);
      await call('a', createContext());
      assert.equal(limit.active, 1, 'the first stream still holds its slot');
      assert.equal(readinessOf(call), 'busy');
      await assert.rejects(
        call('b', createContext()),
        (e: unknown) => isMeshError(e) && e.code === ErrorCode.BULKHEAD_FULL,
      );
      open[0]!.complete();
      assert.equal(limit.active, 0);
      await call('c', createContext());
      open[1]!.complete(new Error('reset'));
      assert.equal(limit.active, 0, 'a stream that fails releases its slot too');
    });
  }

  it('a breaker counts a stream that breaks off as a failure, when it breaks off', async () => {
    const { service, open } = streams();
    const breaker = circuitBreaker<string, object>({ strategy: consecutiveFailures({ threshold: 2 }) });
    const call = breaker.wrap(service);
    await call('a', createContext());
    await call('b', createContext());
    assert.equal(breaker.state, 'closed');
    open[0]!.complete(new Error('reset mid-stream'));
    assert.equal(breaker.state, 'closed');
    open[1]!.complete(new Error('reset mid-stream'));
    assert.equal(breaker.state, 'open');
    assert.equal(readinessOf(call), 'closed');
  });

  it('a deadline keeps its timer until the stream is over, and aborts the stream when it passes', async () => {
    const clock = new FakeClock();
    let aborted: unknown;
    const service: Service<string, object> = async (_req, ctx) => {
      const result = {};
      const completion = completable(result);
      ctx.onAbort((reason) => {
        aborted = reason;
        completion.complete(reason);
      });
      return result;
    };
    const call = deadline<string, object>({ timeoutMs: 100 }).wrap(service);
    await call('a', createContext({ clock }));
    assert.equal(aborted, undefined);
    await clock.advance(150);
    assert.ok(aborted !== undefined, 'the stream was aborted at the deadline');
    const cause = (aborted as { cause?: unknown }).cause;
    assert.ok(isMeshError(cause) && cause.code === ErrorCode.DEADLINE_EXCEEDED);
  });
});
