import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CallContext,
  channels,
  createContext,
  ErrorCode,
  FakeClock,
  type HedgeFiredEvent,
  InvalidArgumentError,
  isAbortError,
  MeshError,
} from '@meshkit/core';
import { RetryBudget } from '../retry/budget.ts';
import { hedge } from './index.ts';

interface Attempt {
  readonly ctx: CallContext;
  readonly signal: AbortSignal;
  resolve(value: string): void;
  reject(error: unknown): void;
}

/** Each call stays pending until the test settles it; its signal is read up front, as a transport does. */
function controlled() {
  const attempts: Attempt[] = [];
  const service = (_req: string, ctx: CallContext) =>
    new Promise<string>((resolve, reject) => {
      attempts.push({ ctx, signal: ctx.signal, resolve, reject });
    });
  return { service, attempts };
}

const unavailable = () => new MeshError(ErrorCode.HTTP_STATUS, '503', { retryable: true });

describe('hedge', () => {
  it('waits for its hedge delay on a timer that keeps the process alive', async () => {
    const clock = new FakeClock();
    const { service, attempts } = controlled();
    const result = hedge<string, string>({ delayMs: 50 }).wrap(service)('x', createContext({ clock }));
    await clock.flush();
    assert.equal(clock.refTimers, 1);
    attempts[0]!.resolve('fast');
    assert.equal(await result, 'fast');
  });

  it('sends nothing extra when the first attempt answers in time, and leaves no timer', async () => {
    const clock = new FakeClock();
    const { service, attempts } = controlled();
    const call = hedge<string, string>({ delayMs: 50 }).wrap(service);
    const result = call('x', createContext({ clock }));
    await clock.advance(20);
    attempts[0]!.resolve('fast');
    assert.equal(await result, 'fast');
    await clock.advance(100);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]!.signal.aborted, false, 'the winner is never aborted');
    assert.equal(clock.pendingTimers, 0);
  });

  it('fires a hedge after the delay; the first success wins and the loser is aborted', async () => {
    const clock = new FakeClock();
    const { service, attempts } = controlled();
    const fired: HedgeFiredEvent[] = [];
    const listener = (e: HedgeFiredEvent): void => {
      fired.push(e);
    };
    channels.hedgeFired.subscribe(listener);
    try {
      const call = hedge<string, string>({ delayMs: 50 }).wrap(service);
      const result = call('x', createContext({ clock }));
      await clock.advance(49);
      assert.equal(attempts.length, 1);
      await clock.advance(1);
      assert.equal(attempts.length, 2);
      assert.equal(attempts[1]!.ctx.attempt, 2);
      attempts[1]!.resolve('hedge');
      assert.equal(await result, 'hedge');
      assert.equal(attempts[0]!.signal.aborted, true, "the loser's signal is aborted");
      assert.ok(isAbortError(attempts[0]!.signal.reason));
      assert.equal(attempts[1]!.signal.aborted, false);
      assert.deepEqual(fired, [{ layer: 'hedge', hedge: 1, delayMs: 50 }]);
    } finally {
      channels.hedgeFired.unsubscribe(listener);
    }
  });

  it('aborts the hedge when the first attempt wins after all', async () => {
    const clock = new FakeClock();
    const { service, attempts } = controlled();
    const call = hedge<string, string>({ delayMs: 10 }).wrap(service);
    const result = call('x', createContext({ clock }));
    await clock.advance(10);
    attempts[0]!.resolve('first');
    assert.equal(await result, 'first');
    assert.equal(attempts[1]!.signal.aborted, true);
  });

  it('passes non-idempotent calls straight through', async () => {
    const clock = new FakeClock();
    const { service, attempts } = controlled();
    const call = hedge<string, string>({ delayMs: 10 }).wrap(service);
    const result = call('x', createContext({ clock, idempotent: false }));
    await clock.advance(100);
    assert.equal(attempts.length, 1);
    attempts[0]!.resolve('once');
    assert.equal(await result, 'once');
  });

  it('hedges at once after a retryable failure, and gives up on a non-retryable one', async () => {
    const clock = new FakeClock();
    const { service, attempts } = controlled();
    const call = hedge<string, string>({ delayMs: 1_000, maxHedges: 2 }).wrap(service);
    const result = call('x', createContext({ clock }));
    attempts[0]!.reject(unavailable());
    await clock.advance(0);
    assert.equal(attempts.length, 2, 'the retryable failure fired the next attempt without waiting');
    const fatal = new MeshError(ErrorCode.HTTP_STATUS, '400');
    attempts[1]!.reject(fatal);
    await assert.rejects(result, (e) => e === fatal);
    assert.equal(attempts.length, 2);
    assert.equal(clock.pendingTimers <= 1, true);
    await clock.advance(1_000);
    assert.equal(clock.pendingTimers, 0);
  });

  it('surfaces the last failure when every attempt fails', async () => {
    const clock = new FakeClock();
    const { service, attempts } = controlled();
    const call = hedge<string, string>({ delayMs: 10, maxHedges: 2 }).wrap(service);
    const result = call('x', createContext({ clock }));
    await clock.advance(20);
    assert.equal(attempts.length, 3);
    const last = unavailable();
    attempts[1]!.reject(unavailable());
    attempts[0]!.reject(unavailable());
    await clock.advance(0);
    attempts[2]!.reject(last);
    await assert.rejects(result, (e) => e === last);
  });

  it('spends a budget token per hedge and stops hedging when the budget is empty', async () => {
    const clock = new FakeClock();
    const budget = new RetryBudget({ clock, minRetriesPerSec: 0, percentCanRetry: 1 });
    const { service, attempts } = controlled();
    const call = hedge<string, string>({ delayMs: 10, maxHedges: 3, budget }).wrap(service);
    const result = call('x', createContext({ clock }));
    await clock.advance(100);
    assert.equal(attempts.length, 2, 'one deposit paid for exactly one hedge');
    attempts[0]!.resolve('ok');
    assert.equal(await result, 'ok');
  });

  it('waits the chosen percentile of recent latencies, within its bounds', async () => {
    const clock = new FakeClock();
    const layer = hedge<string, string>({ percentile: 0.9, sampleSize: 100, maxDelayMs: 500, minDelayMs: 5 });
    assert.equal(layer.describe?.().delayMs, 500, 'no samples yet: the upper bound');
    const call = layer.wrap(async () => {
      return 'ok';
    });
    const sleepy = layer.wrap(async (_req, ctx) => {
      await new Promise<void>((resolve) => ctx.clock.setTimeout(resolve, Number(_req)));
      return 'ok';
    });
    for (let i = 1; i <= 100; i++) {
      const done = sleepy(String(i), createContext({ clock }));
      await clock.advance(i);
      await done;
    }
    assert.equal(layer.describe?.().delayMs, 90);
    assert.equal(await call('x', createContext({ clock })), 'ok');
  });

  it('rejects bad options naming the field', () => {
    const cases: [() => unknown, string][] = [
      [() => hedge({ delayMs: -1 }), 'hedge.delayMs'],
      [() => hedge({ delayMs: 5, percentile: 0.9 }), 'hedge.percentile'],
      [() => hedge({ percentile: 0 }), 'hedge.percentile'],
      [() => hedge({ maxHedges: 11 }), 'hedge.maxHedges'],
      [() => hedge({ sampleSize: 2 }), 'hedge.sampleSize'],
      [() => hedge({ minDelayMs: 10, maxDelayMs: 5 }), 'hedge.maxDelayMs'],
      [() => hedge({ budget: {} as never }), 'hedge.budget'],
    ];
    for (const [make, field] of cases) {
      assert.throws(make, (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
    }
  });
});
