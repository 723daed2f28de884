import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AttemptEndEvent,
  type BudgetExhaustedEvent,
  type CallContext,
  channels,
  createContext,
  ErrorCode,
  FakeClock,
  InvalidArgumentError,
  isAbortError,
  MeshError,
  type RetryScheduledEvent,
  type Service,
} from '@meshkit/core';
import { constantBackoff } from './backoff.ts';
import { RetryBudget } from './budget.ts';
import { retry } from './index.ts';

interface Recorder<Res> extends Service<string, Res> {
  readonly calls: { at: number; attempt: number; ctx: CallContext }[];
}

/** Answers call i with outcomes[i] (the last repeats): an Error is thrown, anything else returned. */
function script<T>(clock: FakeClock, outcomes: readonly T[]): Recorder<Exclude<T, Error>> {
  type Res = Exclude<T, Error>;
  const calls: { at: number; attempt: number; ctx: CallContext }[] = [];
  const service = (async (_req: string, ctx: CallContext) => {
    const outcome = outcomes[Math.min(calls.length, outcomes.length - 1)]!;
    calls.push({ at: clock.now(), attempt: ctx.attempt, ctx });
    if (outcome instanceof Error) throw outcome;
    return outcome as Res;
  }) as Recorder<Res>;
  Object.defineProperty(service, 'calls', { value: calls });
  return service;
}

const unavailable = (details: Record<string, unknown> = {}) =>
  new MeshError(ErrorCode.HTTP_STATUS, '503', { retryable: true, details });

function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

describe('retry', () => {
  it('waits out its backoff on a timer that keeps the process alive', async () => {
    const clock = new FakeClock();
    const svc = script(clock, [unavailable(), 'ok']);
    const result = retry<string, string>({ backoff: constantBackoff(100) }).wrap(svc)(
      'x',
      createContext({ clock }),
    );
    await clock.flush();
    assert.equal(clock.refTimers, 1, 'the backoff timer is ref');
    await clock.advance(100);
    assert.equal(await result, 'ok');
    assert.equal(clock.pendingTimers, 0);
  });

  it('makes one attempt on success and arms no timer', async () => {
    const clock = new FakeClock();
    const svc = script(clock, ['ok']);
    assert.equal(await retry<string, string>().wrap(svc)('x', createContext({ clock })), 'ok');
    assert.equal(svc.calls.length, 1);
    assert.equal(clock.pendingTimers, 0);
  });

  it('retries failures with backoff, numbering attempts, until one succeeds', async () => {
    const clock = new FakeClock();
    const svc = script(clock, [unavailable(), unavailable(), 'ok']);
    const call = retry<string, string>({ maxAttempts: 3, backoff: constantBackoff(100) }).wrap(svc);
    const start = clock.now();
    const done = settle(call('x', createContext({ clock })));
    await clock.advance(200);
    assert.deepEqual(await done, { value: 'ok' });
    assert.deepEqual(
      svc.calls.map((c) => [c.at - start, c.attempt]),
      [
        [0, 1],
        [100, 2],
        [200, 3],
      ],
    );
    assert.equal(clock.pendingTimers, 0);
  });

  it('surfaces the last error once maxAttempts is reached', async () => {
    const clock = new FakeClock();
    const last = unavailable({ n: 3 });
    const svc = script(clock, [unavailable(), unavailable(), last]);
    const call = retry<string, string>({ maxAttempts: 3, backoff: constantBackoff(10) }).wrap(svc);
    const done = settle(call('x', createContext({ clock })));
    await clock.advance(100);
    assert.equal((await done).error, last);
    assert.equal(svc.calls.length, 3);
  });

  it('does not retry errors its predicate refuses (a non-retryable MeshError by default)', async () => {
    const clock = new FakeClock();
    const fatal = new MeshError(ErrorCode.HTTP_STATUS, '400');
    const svc = script(clock, [fatal]);
    const done = await settle(retry<string, string>().wrap(svc)('x', createContext({ clock })));
    assert.equal(done.error, fatal);
    assert.equal(svc.calls.length, 1);
  });

  it('never retries an AbortError, whatever the predicate says', async () => {
    const clock = new FakeClock();
    const aborted = new DOMException('gone', 'AbortError');
    const svc = script(clock, [aborted as unknown as Error]);
    const call = retry<string, string>({ retryOn: () => true }).wrap(svc);
    const done = await settle(call('x', createContext({ clock })));
    assert.equal(done.error, aborted);
    assert.equal(svc.calls.length, 1);
  });

  it('stops at once when the caller aborts during the backoff, with an AbortError', async () => {
    const clock = new FakeClock();
    const caller = new AbortController();
    const svc = script(clock, [unavailable()]);
    const call = retry<string, string>({ maxAttempts: 5, backoff: constantBackoff(1_000) }).wrap(svc);
    const done = settle(call('x', createContext({ clock, signal: caller.signal })));
    await clock.advance(10);
    caller.abort(new Error('user navigated away'));
    const { error } = await done;
    assert.ok(isAbortError(error));
    assert.equal(svc.calls.length, 1);
    await clock.advance(10_000);
    assert.equal(svc.calls.length, 1, 'no retry after abort');
    assert.equal(clock.pendingTimers, 0, 'the backoff timer was cleared');
  });

  it('does not start another attempt once the call is cancelled', async () => {
    const clock = new FakeClock();
    const caller = new AbortController();
    const svc = script(clock, [unavailable()]);
    const call = retry<string, string>({ backoff: constantBackoff(0) }).wrap(async (req, ctx) => {
      caller.abort(new Error('cancelled mid-attempt'));
      return svc(req, ctx);
    });
    const { error } = await settle(call('x', createContext({ clock, signal: caller.signal })));
    assert.ok(isAbortError(error));
    assert.equal(svc.calls.length, 1);
  });

  describe('non-idempotent calls', () => {
    const cases: { name: string; error: Error; ctx: object; retried: boolean; opts?: object }[] = [
      { name: 'a plain failure is not retried', error: unavailable(), ctx: {}, retried: false },
      {
        name: 'ERR_CONNECT (never sent) is retried',
        error: new MeshError(ErrorCode.CONNECT, 'refused', { retryable: true }),
        ctx: {},
        retried: true,
      },
      {
        name: 'a rejected error is retried',
        error: new MeshError(ErrorCode.BULKHEAD_FULL, 'full', { rejected: true }),
        ctx: {},
        retried: true,
      },
      {
        name: 'an idempotency key makes it safe',
        error: unavailable(),
        ctx: { idempotencyKey: 'k1' },
        retried: true,
      },
      {
        name: 'retryNonIdempotent opts in',
        error: unavailable(),
        ctx: {},
        retried: true,
        opts: { retryNonIdempotent: true },
      },
      {
        name: 'a timeout is not retried (the request may have been processed)',
        error: new MeshError(ErrorCode.TIMEOUT, 'slow', { retryable: true }),
        ctx: {},
        retried: false,
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const clock = new FakeClock();
        const svc = script(clock, [c.error, 'ok']);
        const call = retry<string, string>({ backoff: constantBackoff(0), ...c.opts }).wrap(svc);
        const done = await settle(call('x', createContext({ clock, idempotent: false, ...c.ctx })));
        assert.equal(svc.calls.length, c.retried ? 2 : 1);
        assert.deepEqual(done, c.retried ? { value: 'ok' } : { error: c.error });
      });
    }
  });

  it('waits as long as the server asks (retryAfterMs / Retry-After / gRPC pushback), capped by maxDelayMs', async () => {
    const clock = new FakeClock();
    const svc = script(clock, [
      unavailable({ retryAfterMs: 300 }),
      unavailable({ headers: { 'retry-after': '5' } }),
      unavailable({ metadata: { 'grpc-retry-pushback-ms': '40' } }),
      'ok',
    ]);
    const call = retry<string, string>({
      maxAttempts: 4,
      backoff: constantBackoff(1),
      maxDelayMs: 2_000,
    }).wrap(svc);
    const start = clock.now();
    const done = settle(call('x', createContext({ clock })));
    await clock.advance(3_000);
    assert.deepEqual(await done, { value: 'ok' });
    assert.deepEqual(
      svc.calls.map((c) => c.at - start),
      [0, 300, 2_300, 2_340],
    );
  });

  it('does not retry when gRPC pushback says not to', async () => {
    const clock = new FakeClock();
    const stop = unavailable({ metadata: { 'grpc-retry-pushback-ms': '-1' } });
    const svc = script(clock, [stop, 'ok']);
    const done = await settle(retry<string, string>().wrap(svc)('x', createContext({ clock })));
    assert.equal(done.error, stop);
    assert.equal(svc.calls.length, 1);
  });

  it('never sleeps past the deadline: the last error surfaces at once instead', async () => {
    const clock = new FakeClock();
    const first = unavailable();
    const svc = script(clock, [first, 'ok']);
    const call = retry<string, string>({ backoff: constantBackoff(500) }).wrap(svc);
    const start = clock.now();
    const done = await settle(call('x', createContext({ clock, timeoutMs: 400 })));
    assert.equal(done.error, first);
    assert.equal(clock.now(), start, 'no time was spent waiting');
    assert.equal(clock.pendingTimers, 0);
    assert.equal(svc.calls.length, 1);
  });

  it('surfaces the original error, marked, when the budget is exhausted, and publishes it', async () => {
    const clock = new FakeClock();
    const budget = new RetryBudget({ clock, minRetriesPerSec: 0, name: 'users' });
    const events: BudgetExhaustedEvent[] = [];
    const listener = (e: BudgetExhaustedEvent): void => {
      events.push(e);
    };
    channels.budgetExhausted.subscribe(listener);
    try {
      const failure = unavailable();
      const svc = script(clock, [failure]);
      const call = retry<string, string>({ budget, backoff: constantBackoff(0) }).wrap(svc);
      const done = await settle(call('x', createContext({ clock })));
      const error = done.error as MeshError;
      assert.ok(error instanceof MeshError);
      assert.equal(error.code, ErrorCode.RETRY_BUDGET);
      assert.equal(error.cause, failure, 'the last failure is the cause');
      assert.equal(error.retryable, false);
      assert.equal(svc.calls.length, 1);
      assert.deepEqual(events, [{ layer: 'retry', budget: 'users', error: failure }]);
    } finally {
      channels.budgetExhausted.unsubscribe(listener);
    }
  });

  it('spends one budget token per retry and deposits one share per call', async () => {
    const clock = new FakeClock();
    const budget = new RetryBudget({ clock, minRetriesPerSec: 0, percentCanRetry: 1 });
    const svc = script(clock, [unavailable(), 'ok']);
    const call = retry<string, string>({ budget, backoff: constantBackoff(0) }).wrap(svc);
    assert.equal(await call('x', createContext({ clock })), 'ok');
    assert.equal(budget.balance, 0, 'one deposit (100%) paid for the one retry');
  });

  it('retries results its result predicate refuses, and returns the last one when attempts run out', async () => {
    const clock = new FakeClock();
    const svc = script(clock, [{ status: 503 }, { status: 503 }, { status: 503 }]);
    const call = retry<string, { status: number }>({
      maxAttempts: 3,
      backoff: constantBackoff(0),
      retryOnResult: (r) => r.status >= 500,
    }).wrap(svc);
    assert.deepEqual(await call('x', createContext({ clock })), { status: 503 });
    assert.equal(svc.calls.length, 3);
    const ok = script(clock, [{ status: 503 }, { status: 200 }]);
    const call2 = retry<string, { status: number }>({
      backoff: constantBackoff(0),
      retryOnResult: (r) => r.status >= 500,
    }).wrap(ok);
    assert.deepEqual(await call2('x', createContext({ clock })), { status: 200 });
  });

  it('publishes retry and attempt events when someone listens', async () => {
    const clock = new FakeClock();
    const scheduled: RetryScheduledEvent[] = [];
    const ends: AttemptEndEvent[] = [];
    const onScheduled = (e: RetryScheduledEvent): void => {
      scheduled.push(e);
    };
    const onEnd = (e: AttemptEndEvent): void => {
      ends.push(e);
    };
    channels.retryScheduled.subscribe(onScheduled);
    channels.attemptEnd.subscribe(onEnd);
    try {
      const failure = unavailable();
      const svc = script(clock, [failure, 'ok']);
      const call = retry<string, string>({ backoff: constantBackoff(50), name: 'users-retry' }).wrap(svc);
      const done = call('x', createContext({ clock }));
      await clock.advance(50);
      assert.equal(await done, 'ok');
      assert.deepEqual(scheduled, [{ layer: 'users-retry', attempt: 2, delayMs: 50, error: failure }]);
      assert.deepEqual(
        ends.map((e) => [e.attempt, e.error]),
        [
          [1, failure],
          [2, undefined],
        ],
      );
    } finally {
      channels.retryScheduled.unsubscribe(onScheduled);
      channels.attemptEnd.unsubscribe(onEnd);
    }
  });

  it('describes its settings and budget', () => {
    const budget = new RetryBudget({ clock: new FakeClock() });
    const layer = retry({ maxAttempts: 4, budget });
    assert.equal(layer.name, 'retry');
    assert.deepEqual(layer.describe?.(), { maxAttempts: 4, budget: budget.describe() });
  });

  it('rejects bad options naming the field', () => {
    const cases: [() => unknown, string][] = [
      [() => retry({ maxAttempts: 0 }), 'retry.maxAttempts'],
      [() => retry({ maxAttempts: 1.5 }), 'retry.maxAttempts'],
      [() => retry({ maxDelayMs: -1 }), 'retry.maxDelayMs'],
      [() => retry({ backoff: {} as never }), 'retry.backoff'],
      [() => retry({ retryOn: 'all' as never }), 'retry.retryOn'],
      [() => retry({ retryOnResult: 1 as never }), 'retry.retryOnResult'],
      [() => retry({ budget: {} as never }), 'retry.budget'],
      [() => retry(5 as never), 'retry'],
    ];
    for (const [make, field] of cases) {
      assert.throws(make, (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
    }
  });
});
