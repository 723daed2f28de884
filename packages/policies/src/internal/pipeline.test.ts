import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AttemptStartEvent,
  type CallContext,
  channels,
  createContext,
  ErrorCode,
  FakeClock,
  isMeshError,
  MeshError,
  stack,
} from '@meshkit/core';
import { bulkhead } from '../bulkhead/index.ts';
import { circuitBreaker, consecutiveFailures } from '../circuit-breaker/index.ts';
import { constantBackoff, retry } from '../retry/index.ts';
import { timeout } from '../timeout/index.ts';

/**
 * The fused fast path (one `.then` for timeout, retry, breaker and bulkhead) must behave exactly as the
 * layered path it replaces: these run whole stacks through both.
 */

const unavailable = () => new MeshError(ErrorCode.HTTP_STATUS, '503', { retryable: true });

function build(clock: FakeClock, maxConcurrent = 2) {
  const breaker = circuitBreaker<string, string>({
    clock,
    halfOpenAfterMs: 1_000,
    strategy: consecutiveFailures({ threshold: 2 }),
  });
  const slots = bulkhead<string, string>({ maxConcurrent, maxQueue: 1 });
  const layers = stack<string, string>(
    timeout({ timeoutMs: 100 }),
    retry({ maxAttempts: 3, backoff: constantBackoff(10) }),
    breaker,
    slots,
  );
  return { breaker, slots, layers };
}

describe('fused stack', () => {
  it('succeeds, releases the bulkhead slot, counts the success and leaves no timer', async () => {
    const clock = new FakeClock();
    const { breaker, slots, layers } = build(clock);
    const seen: CallContext[] = [];
    const call = layers.wrap(async (req, ctx) => {
      seen.push(ctx);
      return req.toUpperCase();
    });
    assert.equal(await call('a', createContext({ clock })), 'A');
    assert.equal(slots.active, 0);
    assert.equal(breaker.state, 'closed');
    assert.equal(seen[0]!.remainingMs(), 100, 'the timeout shows its limit downstream');
    await clock.advance(100);
    assert.equal(seen[0]!.aborted, false);
    assert.equal(clock.pendingTimers, 0);
  });

  it('retries a failure through the breaker and the bulkhead, releasing the slot each time', async () => {
    const clock = new FakeClock();
    const { breaker, slots, layers } = build(clock);
    let n = 0;
    const call = layers.wrap(async (req) => {
      n++;
      if (n === 1) throw unavailable();
      return req;
    });
    const done = call('a', createContext({ clock }));
    await clock.advance(10);
    assert.equal(await done, 'a');
    assert.equal(n, 2);
    assert.equal(slots.active, 0);
    assert.deepEqual((breaker.describe().strategy as { consecutiveFailures: number }).consecutiveFailures, 0);
  });

  it('opens the breaker from fused failures, then refuses on the layered path', async () => {
    const clock = new FakeClock();
    const { breaker, slots, layers } = build(clock);
    let n = 0;
    const call = layers.wrap(async () => {
      n++;
      throw unavailable();
    });
    const done = call('a', createContext({ clock })).catch((e: unknown) => e);
    await clock.advance(50);
    const error = await done;
    assert.equal(breaker.state, 'open');
    assert.equal(n, 2, 'the third attempt met the open circuit and was never sent');
    assert.ok(isMeshError(error));
    assert.equal(error.code, ErrorCode.CIRCUIT_OPEN);
    assert.equal(slots.active, 0);
  });

  it('queues on the layered path when the bulkhead is full', async () => {
    const clock = new FakeClock();
    const { slots, layers } = build(clock, 1);
    const releases: (() => void)[] = [];
    const call = layers.wrap(
      (req) =>
        new Promise<string>((resolve) => {
          releases.push(() => resolve(req));
        }),
    );
    const first = call('a', createContext({ clock }));
    const second = call('b', createContext({ clock }));
    assert.deepEqual([slots.active, slots.queued], [1, 1]);
    releases[0]!();
    assert.equal(await first, 'a');
    await clock.advance(0);
    releases[1]!();
    assert.equal(await second, 'b');
    assert.deepEqual([slots.active, slots.queued], [0, 0]);
    await clock.advance(200);
  });

  it('times out a fused call, aborts it, and frees its slot once the work gives up', async () => {
    const clock = new FakeClock();
    const { slots, layers } = build(clock);
    const call = layers.wrap(
      (_req, ctx) =>
        new Promise<string>((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        }),
    );
    const done = call('a', createContext({ clock })).catch((e: unknown) => e);
    await clock.advance(100);
    const error = await done;
    assert.ok(isMeshError(error));
    assert.equal(error.code, ErrorCode.TIMEOUT);
    assert.equal(slots.active, 0);
    await clock.advance(100);
    assert.equal(clock.pendingTimers, 0);
  });

  it('takes the layered path, with attempt events, when someone listens', async () => {
    const clock = new FakeClock();
    const { layers } = build(clock);
    const starts: AttemptStartEvent[] = [];
    const listener = (e: AttemptStartEvent): void => {
      starts.push(e);
    };
    channels.attemptStart.subscribe(listener);
    try {
      let n = 0;
      const call = layers.wrap(async (req) => {
        if (++n === 1) throw unavailable();
        return req;
      });
      const done = call('a', createContext({ clock }));
      await clock.advance(10);
      assert.equal(await done, 'a');
      assert.deepEqual(
        starts.map((e) => [e.layer, e.attempt]),
        [
          ['retry', 1],
          ['retry', 2],
        ],
      );
    } finally {
      channels.attemptStart.unsubscribe(listener);
    }
  });

  it('runs a chain of more than two guards in order, and releases all of them', async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker<string, string>({
      clock,
      strategy: consecutiveFailures({ threshold: 1 }),
    });
    const outer = bulkhead<string, string>({ maxConcurrent: 2, maxQueue: 0 });
    const middle = bulkhead<string, string>({ maxConcurrent: 2, maxQueue: 0 });
    const inner = bulkhead<string, string>({ maxConcurrent: 1, maxQueue: 0 });
    const call = stack<string, string>(timeout({ timeoutMs: 100 }), breaker, outer, middle, inner).wrap(
      async (req) => {
        assert.deepEqual([outer.active, middle.active, inner.active], [1, 1, 1]);
        if (req === 'fail') throw unavailable();
        return req;
      },
    );
    assert.equal(await call('a', createContext({ clock })), 'a');
    assert.deepEqual([outer.active, middle.active, inner.active], [0, 0, 0]);
    const error = await call('fail', createContext({ clock })).catch((e: unknown) => e);
    assert.ok(isMeshError(error));
    assert.equal(error.code, ErrorCode.HTTP_STATUS);
    assert.deepEqual([outer.active, middle.active, inner.active], [0, 0, 0]);
    assert.equal(breaker.state, 'open', 'the failure reached the outermost guard');
  });

  it('admits nothing when a later guard refuses, leaving the earlier ones untouched', async () => {
    const clock = new FakeClock();
    const first = bulkhead<string, string>({ maxConcurrent: 5, maxQueue: 0 });
    const second = bulkhead<string, string>({ maxConcurrent: 1, maxQueue: 0 });
    const releases: (() => void)[] = [];
    const call = stack<string, string>(timeout({ timeoutMs: 100 }), first, second).wrap(
      (req) => new Promise<string>((resolve) => releases.push(() => resolve(req))),
    );
    const held = call('a', createContext({ clock }));
    const refused = await call('b', createContext({ clock })).catch((e: unknown) => e);
    assert.ok(isMeshError(refused));
    assert.equal(refused.code, ErrorCode.BULKHEAD_FULL);
    assert.deepEqual([first.active, second.active], [1, 1], 'the refused call holds no slot');
    releases[0]!();
    assert.equal(await held, 'a');
    assert.deepEqual([first.active, second.active], [0, 0]);
    await clock.advance(100);
    assert.equal(clock.pendingTimers, 0);
  });
});
