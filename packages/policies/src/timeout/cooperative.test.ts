import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CallContext,
  cancelsPromptly,
  createContext,
  ErrorCode,
  FakeClock,
  isMeshError,
  MeshError,
  markCancelsPromptly,
  type Service,
  sleep,
  stack,
} from '@meshkit/core';
import { bulkhead } from '../bulkhead/index.ts';
import { circuitBreaker } from '../circuit-breaker/index.ts';
import { constantBackoff, retry } from '../retry/index.ts';
import { deadline, timeout } from './index.ts';

/**
 * Over a service declared with `markCancelsPromptly`, a timeout makes no promise of its own: it aborts the
 * work and passes the work's outcome through, mapped to its own error once it fired. The outcomes must be
 * the ones the racing timeout gives.
 */

/** A transport-like service that rejects as soon as its call is cancelled. */
function abortable(
  seen: CallContext[],
  settle?: (ctx: CallContext) => Promise<string>,
): Service<string, string> {
  return markCancelsPromptly((req: string, ctx: CallContext) => {
    seen.push(ctx);
    return new Promise<string>((resolve, reject) => {
      ctx.onAbort((reason) => reject(reason));
      if (settle !== undefined) settle(ctx).then(resolve, reject);
      else if (req !== 'hang') resolve(`ok ${req}`);
    });
  });
}

const unavailable = () => new MeshError(ErrorCode.HTTP_STATUS, '503', { retryable: true });

describe('timeout over a service that cancels promptly', () => {
  it('is itself marked, as are the guards and retry over it, and nothing over an unmarked service', () => {
    const marked = abortable([]);
    const plain: Service<string, string> = async (req) => req;
    assert.equal(cancelsPromptly(timeout<string, string>({ timeoutMs: 10 }).wrap(marked)), true);
    const guards = stack<string, string>(retry(), circuitBreaker(), bulkhead());
    assert.equal(cancelsPromptly(guards.wrap(marked)), true);
    assert.equal(cancelsPromptly(guards.wrap(plain)), false);
    assert.equal(cancelsPromptly(timeout<string, string>({ timeoutMs: 10 }).wrap(plain)), false);
  });

  it('passes a result through and leaves no timer', async () => {
    const clock = new FakeClock();
    const seen: CallContext[] = [];
    const call = timeout<string, string>({ timeoutMs: 100 }).wrap(abortable(seen));
    assert.equal(await call('a', createContext({ clock })), 'ok a');
    assert.equal(seen[0]!.remainingMs(), 100);
    await clock.advance(100);
    assert.equal(seen[0]!.aborted, false);
    assert.equal(clock.pendingTimers, 0);
  });

  it('rejects with ERR_TIMEOUT at expiry, not with the abort the work rejected with', async () => {
    const clock = new FakeClock();
    const seen: CallContext[] = [];
    const call = timeout<string, string>({ timeoutMs: 100 }).wrap(abortable(seen));
    const outcome = call('hang', createContext({ clock })).catch((e: unknown) => e);
    await clock.advance(100);
    const error = await outcome;
    assert.ok(isMeshError(error));
    assert.equal(error.code, ErrorCode.TIMEOUT);
    assert.equal(seen[0]!.aborted, true);
    assert.equal(clock.pendingTimers, 0);
  });

  it('reports the expiry even when the work answers after it instead of rejecting', async () => {
    const clock = new FakeClock();
    const call = deadline<string, string>({ timeoutMs: 50 }).wrap(
      markCancelsPromptly(async (_req: string, ctx: CallContext) => {
        await sleep(clock, 80);
        return ctx.aborted ? 'too late' : 'in time';
      }),
    );
    const outcome = call('a', createContext({ clock })).catch((e: unknown) => e);
    await clock.advance(80);
    const error = await outcome;
    assert.ok(isMeshError(error));
    assert.equal(error.code, ErrorCode.DEADLINE_EXCEEDED);
  });

  it('runs a fused retry after a failure, and stops its attempt with ERR_TIMEOUT when time runs out', async () => {
    const clock = new FakeClock();
    const slots = bulkhead<string, string>({ maxConcurrent: 2 });
    let attempts = 0;
    const seen: CallContext[] = [];
    // The first call fails once, then recovers; the second fails once, then its retry hangs.
    const flaky = abortable(seen, (ctx) => {
      attempts++;
      if (ctx.attempt === 1) return Promise.reject(unavailable());
      return attempts > 2 ? new Promise<string>(() => {}) : Promise.resolve('recovered');
    });
    const call = stack<string, string>(
      timeout({ timeoutMs: 100 }),
      retry({ maxAttempts: 5, backoff: constantBackoff(30) }),
      circuitBreaker({ clock }),
      slots,
    ).wrap(flaky);
    const recovered = call('a', createContext({ clock }));
    await clock.advance(30);
    assert.equal(await recovered, 'recovered');
    assert.equal(slots.active, 0);

    const failing = call('b', createContext({ clock })).catch((e: unknown) => e);
    await clock.advance(100);
    const error = await failing;
    assert.ok(isMeshError(error));
    assert.equal(error.code, ErrorCode.TIMEOUT);
    assert.equal(seen.at(-1)!.aborted, true, 'the hanging retry attempt was aborted');
    assert.equal(slots.active, 0);
    await clock.advance(200);
    assert.equal(clock.pendingTimers, 0);
  });
});
