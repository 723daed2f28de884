import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  channels,
  createContext,
  ErrorCode,
  FakeClock,
  InvalidArgumentError,
  isAbortError,
  isMeshError,
  type RateLimitedEvent,
} from '@meshkit/core';
import { rateLimit } from './index.ts';

function settle(p: Promise<unknown>): Promise<string> {
  return p.then(
    (v) => `ok:${String(v)}`,
    (e: unknown) => (isMeshError(e) ? `${e.code}:${String(e.details.retryAfterMs)}` : `error:${String(e)}`),
  );
}

describe('rateLimit', () => {
  it('allows a burst, then refuses with ERR_RATE_LIMITED and the time until the next token', async () => {
    const clock = new FakeClock();
    const events: RateLimitedEvent[] = [];
    const listener = (e: RateLimitedEvent): void => {
      events.push(e);
    };
    channels.rateLimited.subscribe(listener);
    try {
      let calls = 0;
      const limiter = rateLimit<string, number>({ ratePerSec: 10, burst: 3, clock });
      const call = limiter.wrap(async () => ++calls);
      const ctx = createContext({ clock });
      for (let i = 1; i <= 3; i++) assert.equal(await call('x', ctx), i);
      const refused = await call('x', ctx).catch((e: unknown) => e);
      assert.ok(isMeshError(refused));
      assert.equal(refused.code, ErrorCode.RATE_LIMITED);
      assert.equal(refused.rejected, true);
      assert.equal(refused.details.retryAfterMs, 100);
      assert.equal(calls, 3);
      assert.deepEqual(events, [{ layer: 'rate-limit', retryAfterMs: 100 }]);
      await clock.advance(100);
      assert.equal(await call('x', ctx), 4, 'one token refilled after 1/rate');
      await clock.advance(10_000);
      assert.equal(Math.floor(limiter.tokens), 3, 'refill stops at the burst size');
    } finally {
      channels.rateLimited.unsubscribe(listener);
    }
  });

  it('with waitUpToMs, queues callers behind earlier reservations and refuses what would wait too long', async () => {
    const clock = new FakeClock();
    const started: number[] = [];
    const start = clock.now();
    const call = rateLimit<string, string>({ ratePerSec: 10, burst: 1, waitUpToMs: 250, clock }).wrap(
      async (req) => {
        started.push(clock.now() - start);
        return req;
      },
    );
    const ctx = createContext({ clock });
    const results = ['a', 'b', 'c', 'd'].map((r) => settle(call(r, ctx)));
    await clock.advance(300);
    assert.deepEqual(await Promise.all(results), ['ok:a', 'ok:b', 'ok:c', `${ErrorCode.RATE_LIMITED}:300`]);
    assert.deepEqual(started, [0, 100, 200]);
    assert.equal(clock.pendingTimers, 0);
  });

  it('never waits past the deadline', async () => {
    const clock = new FakeClock();
    const call = rateLimit<string, string>({ ratePerSec: 1, burst: 1, waitUpToMs: 5_000, clock }).wrap(
      async (r) => r,
    );
    await call('a', createContext({ clock }));
    assert.equal(
      await settle(call('b', createContext({ clock, timeoutMs: 500 }))),
      `${ErrorCode.RATE_LIMITED}:1000`,
    );
  });

  it('gives the token back when a waiting caller aborts', async () => {
    const clock = new FakeClock();
    const limiter = rateLimit<string, string>({ ratePerSec: 10, burst: 1, waitUpToMs: 1_000, clock });
    const call = limiter.wrap(async (r) => r);
    await call('a', createContext({ clock }));
    const caller = new AbortController();
    const waiting = call('b', createContext({ clock, signal: caller.signal }));
    assert.equal(limiter.tokens, -1);
    caller.abort();
    assert.ok(isAbortError(await waiting.catch((e: unknown) => e)));
    assert.equal(limiter.tokens, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it('describes its bucket', () => {
    const limiter = rateLimit({ ratePerSec: 5, clock: new FakeClock() });
    assert.deepEqual(limiter.describe(), { ratePerSec: 5, burst: 5, waitUpToMs: 0, tokens: 5, refused: 0 });
  });

  it('rejects bad options naming the field', () => {
    const cases: [() => unknown, string][] = [
      [() => rateLimit({ ratePerSec: 0 }), 'rateLimit.ratePerSec'],
      [() => rateLimit(undefined as never), 'rateLimit.ratePerSec'],
      [() => rateLimit({ ratePerSec: 1, burst: 0.5 }), 'rateLimit.burst'],
      [() => rateLimit({ ratePerSec: 1, waitUpToMs: -1 }), 'rateLimit.waitUpToMs'],
    ];
    for (const [make, field] of cases) {
      assert.throws(make, (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
    }
  });
});
