import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CallContext,
  channels,
  createContext,
  FakeClock,
  InvalidArgumentError,
  isAbortError,
  isMeshError,
  type Service,
  stack,
  type TimeoutEvent,
} from '@meshkit/core';
import { timerQueueFor } from '@meshkit/core/internal';
import { deadline, timeout } from './index.ts';

/** A service that never settles and ignores its signal: the worst case a timeout must still bound. */
function hanging(seen: CallContext[]): Service<string, string> {
  return (_req, ctx) => {
    seen.push(ctx);
    return new Promise<string>(() => {});
  };
}

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

describe('timeout', () => {
  it('passes a fast result through, never aborts it, and leaves no timer once the lane passes', async () => {
    const clock = new FakeClock();
    const seen: CallContext[] = [];
    const call = timeout<string, string>({ timeoutMs: 100 }).wrap(async (req, ctx) => {
      seen.push(ctx);
      return `hi ${req}`;
    });
    assert.equal(await call('ann', createContext({ clock })), 'hi ann');
    assert.equal(seen[0]!.aborted, false);
    await clock.advance(100);
    assert.equal(seen[0]!.aborted, false, 'the expired entry was cancelled: no abort after success');
    assert.equal(clock.pendingTimers, 0);
  });

  it('rejects with ERR_TIMEOUT at expiry and aborts the work, even if the work ignores its signal', async () => {
    const clock = new FakeClock();
    const seen: CallContext[] = [];
    const call = timeout<string, string>({ timeoutMs: 100 }).wrap(hanging(seen));
    const outcome = rejection(call('x', createContext({ clock })));
    const signal = seen[0]!.signal;
    await clock.advance(99);
    assert.equal(signal.aborted, false);
    await clock.advance(1);
    const error = await outcome;
    assert.ok(isMeshError(error));
    assert.equal(error.code, 'ERR_TIMEOUT');
    assert.equal(error.retryable, true);
    assert.equal(signal.aborted, true);
    assert.ok(isAbortError(signal.reason), 'the work sees a platform AbortError');
    assert.equal((signal.reason as Error).cause, error);
    assert.equal(clock.pendingTimers, 0);
  });

  it('aborts what the work derived from its context, and a signal first read after expiry', async () => {
    const clock = new FakeClock();
    const seen: CallContext[] = [];
    const heard: unknown[] = [];
    const call = timeout<string, string>({ timeoutMs: 100 }).wrap((req, ctx) => {
      const attempt = ctx.with({ attempt: 2 });
      attempt.onAbort((reason) => heard.push(reason));
      return hanging(seen)(req, attempt);
    });
    const outcome = rejection(call('x', createContext({ clock })));
    await clock.advance(100);
    const error = await outcome;
    assert.equal(heard.length, 1);
    assert.equal((heard[0] as Error).cause, error);
    assert.equal(seen[0]!.aborted, true);
    assert.equal(seen[0]!.signal.aborted, true, 'created after the abort, still aborted');
    assert.equal((seen[0]!.signal.reason as Error).cause, error);
  });

  it('leaves no entry on the shared queue once calls settle, in time or not', async () => {
    const clock = new FakeClock();
    const timers = timerQueueFor(clock);
    const call = timeout<string, string>({ timeoutMs: 100 }).wrap(async (req) => req);
    for (let i = 0; i < 50; i++) assert.equal(await call('x', createContext({ clock })), 'x');
    assert.equal(timers.size, 0, 'each settled call dropped its entry at once');
    const failing = timeout<string, string>({ timeoutMs: 100 }).wrap(async () => {
      throw new Error('boom');
    });
    await rejection(failing('x', createContext({ clock })));
    const slow = rejection(
      timeout<string, string>({ timeoutMs: 100 }).wrap(hanging([]))('x', createContext({ clock })),
    );
    await clock.advance(100);
    await slow;
    assert.equal(timers.size, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it('reports ERR_DEADLINE_EXCEEDED when the context deadline is what runs out', async () => {
    const clock = new FakeClock();
    const seen: CallContext[] = [];
    const call = timeout<string, string>({ timeoutMs: 1_000 }).wrap(hanging(seen));
    const outcome = rejection(call('x', createContext({ clock, timeoutMs: 50 })));
    assert.equal(seen[0]!.remainingMs(), 50);
    await clock.advance(50);
    const error = await outcome;
    assert.ok(isMeshError(error));
    assert.equal(error.code, 'ERR_DEADLINE_EXCEEDED');
    assert.equal(error.retryable, false);
  });

  it('shows its limit downstream through ctx.deadline', async () => {
    const clock = new FakeClock();
    let remaining = 0;
    const call = timeout<string, number>({ timeoutMs: 250 }).wrap(async (_req, ctx) => {
      remaining = ctx.remainingMs();
      return remaining;
    });
    await call('x', createContext({ clock, timeoutMs: 10_000 }));
    assert.equal(remaining, 250);
  });

  it('passes a failure through unchanged and cancels its timer entry', async () => {
    const clock = new FakeClock();
    const boom = new Error('boom');
    const call = timeout<string, string>({ timeoutMs: 100 }).wrap(async () => {
      throw boom;
    });
    assert.equal(await rejection(call('x', createContext({ clock }))), boom);
    await clock.advance(100);
    assert.equal(clock.pendingTimers, 0);
  });

  it('turns a synchronous throw of the next service into a rejection and cancels its entry', async () => {
    const clock = new FakeClock();
    const boom = new Error('sync boom');
    const call = timeout<string, string>({ timeoutMs: 100 }).wrap(() => {
      throw boom;
    });
    assert.equal(await rejection(call('x', createContext({ clock }))), boom);
    assert.equal(timerQueueFor(clock).size, 0);
    await clock.advance(100);
    assert.equal(clock.pendingTimers, 0);
  });

  it('aborts the work when the caller cancels', async () => {
    const clock = new FakeClock();
    const caller = new AbortController();
    const seen: CallContext[] = [];
    const call = timeout<string, string>({ timeoutMs: 1_000 }).wrap(hanging(seen));
    void call('x', createContext({ clock, signal: caller.signal })).catch(() => {});
    caller.abort(new Error('caller left'));
    assert.equal(seen[0]!.aborted, true);
    assert.equal((seen[0]!.abortReason as Error).message, 'caller left');
    await clock.advance(1_000);
  });

  it('publishes a timeout event only when someone listens', async () => {
    const clock = new FakeClock();
    const events: TimeoutEvent[] = [];
    const listener = (e: TimeoutEvent): void => {
      events.push(e);
    };
    channels.timeout.subscribe(listener);
    try {
      const call = timeout<string, string>({ timeoutMs: 30, name: 'per-try' }).wrap(hanging([]));
      const outcome = rejection(call('x', createContext({ clock })));
      await clock.advance(30);
      await outcome;
    } finally {
      channels.timeout.unsubscribe(listener);
    }
    assert.deepEqual(events, [{ layer: 'per-try', kind: 'attempt', timeoutMs: 30 }]);
  });

  it("leaves no ref'd Node timer behind on the real clock", async () => {
    const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timeouts();
    const call = stack<string, string>(deadline({ timeoutMs: 5_000 }), timeout({ timeoutMs: 2_000 })).wrap(
      async (req) => req,
    );
    for (let i = 0; i < 100; i++) assert.equal(await call('x', createContext()), 'x');
    assert.equal(timeouts(), before);
  });

  it('rejects bad options naming the field', () => {
    for (const bad of [0, -1, Number.NaN, Infinity, '100']) {
      assert.throws(
        () => timeout({ timeoutMs: bad as number }),
        (e: unknown) => e instanceof InvalidArgumentError && e.field === 'timeout.timeoutMs',
      );
    }
    assert.throws(
      () => timeout(undefined as never),
      (e: unknown) => e instanceof InvalidArgumentError && e.field === 'timeout.timeoutMs',
    );
    assert.throws(
      () => timeout({ timeoutMs: 1, name: '' }),
      (e: unknown) => e instanceof InvalidArgumentError && e.field === 'timeout.name',
    );
  });
});

describe('deadline', () => {
  it('rejects at once, without calling next, when no time is left', async () => {
    const clock = new FakeClock();
    let called = 0;
    const call = deadline<string, string>({ timeoutMs: 1_000 }).wrap(async () => {
      called++;
      return 'late';
    });
    const ctx = createContext({ clock, timeoutMs: 10 });
    await clock.advance(10);
    const error = await rejection(call('x', ctx));
    assert.ok(isMeshError(error));
    assert.equal(error.code, 'ERR_DEADLINE_EXCEEDED');
    assert.equal(called, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it('shrinks the deadline across nested calls and never extends it', async () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    const inner = stack<string, string>(deadline({ timeoutMs: 5_000 }), deadline({ timeoutMs: 300 })).wrap(
      async (req, ctx) => {
        seen.push(ctx.remainingMs());
        return req;
      },
    );
    const outer = deadline<string, string>({ timeoutMs: 1_000 }).wrap(async (req, ctx) => {
      seen.push(ctx.remainingMs());
      await clock.advance(200);
      return inner(req, ctx);
    });
    assert.equal(await outer('x', createContext({ clock })), 'x');
    assert.deepEqual(seen, [1_000, 300]);
    const late = deadline<string, string>({ timeoutMs: 1_000 }).wrap(async (req, ctx) => {
      await clock.advance(900);
      return inner(req, ctx);
    });
    seen.length = 0;
    await late('x', createContext({ clock }));
    assert.deepEqual(seen, [100], 'the inner layers see what is left of the outer deadline');
  });

  it('rejects with ERR_DEADLINE_EXCEEDED and aborts the work on expiry', async () => {
    const clock = new FakeClock();
    const seen: CallContext[] = [];
    const call = deadline<string, string>({ timeoutMs: 500 }).wrap(hanging(seen));
    const outcome = rejection(call('x', createContext({ clock })));
    await clock.advance(500);
    const error = await outcome;
    assert.ok(isMeshError(error));
    assert.equal(error.code, 'ERR_DEADLINE_EXCEEDED');
    assert.equal(seen[0]!.aborted, true);
    assert.equal(clock.pendingTimers, 0);
  });

  it('rejects bad options naming the field', () => {
    assert.throws(
      () => deadline({ timeoutMs: -5 }),
      (e: unknown) => e instanceof InvalidArgumentError && e.field === 'deadline.timeoutMs',
    );
  });
});
