import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BreakerStateEvent,
  channels,
  createContext,
  ErrorCode,
  FakeClock,
  InvalidArgumentError,
  isMeshError,
  MeshError,
} from '@meshkit/core';
import { circuitBreaker, consecutiveFailures, failureRate } from './index.ts';

/** A service whose calls stay pending until the test settles them. */
function controlled() {
  const pending: { resolve: (v: string) => void; reject: (e: unknown) => void }[] = [];
  const service = (_req: string) =>
    new Promise<string>((resolve, reject) => {
      pending.push({ resolve, reject });
    });
  return { service, pending };
}

const boom = () => new Error('downstream failed');

function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    (v) => `ok:${String(v)}`,
    (e: unknown) => (isMeshError(e) ? e.code : `error:${(e as Error).message}`),
  );
}

function recordStates(): { events: string[]; stop: () => void } {
  const events: string[] = [];
  const listener = (e: BreakerStateEvent): void => {
    events.push(`${e.from}->${e.to}`);
  };
  channels.breakerState.subscribe(listener);
  return { events, stop: () => channels.breakerState.unsubscribe(listener) };
}

describe('circuitBreaker', () => {
  it('opens after consecutive failures and refuses calls without sending them', async () => {
    const clock = new FakeClock();
    const states = recordStates();
    try {
      let calls = 0;
      const breaker = circuitBreaker<string, string>({
        clock,
        strategy: consecutiveFailures({ threshold: 3 }),
      });
      const call = breaker.wrap(async () => {
        calls++;
        throw boom();
      });
      const ctx = createContext({ clock });
      for (let i = 0; i < 3; i++) assert.equal(await outcome(call('x', ctx)), 'error:downstream failed');
      assert.equal(breaker.state, 'open');
      const refused = await call('x', ctx).catch((e: unknown) => e);
      assert.ok(isMeshError(refused));
      assert.equal(refused.code, ErrorCode.CIRCUIT_OPEN);
      assert.equal(refused.rejected, true);
      assert.equal(calls, 3);
      assert.deepEqual(states.events, ['closed->open']);
    } finally {
      states.stop();
    }
  });

  it('resets the consecutive count on success', async () => {
    const clock = new FakeClock();
    let fail = true;
    const breaker = circuitBreaker<string, string>({
      clock,
      strategy: consecutiveFailures({ threshold: 2 }),
    });
    const call = breaker.wrap(async () => {
      if (fail) throw boom();
      return 'ok';
    });
    const ctx = createContext({ clock });
    await outcome(call('x', ctx));
    fail = false;
    await call('x', ctx);
    fail = true;
    await outcome(call('x', ctx));
    assert.equal(breaker.state, 'closed');
    await outcome(call('x', ctx));
    assert.equal(breaker.state, 'open');
  });

  it('goes half-open after halfOpenAfterMs, admits one probe, and closes when it succeeds', async () => {
    const clock = new FakeClock();
    const states = recordStates();
    try {
      const { service, pending } = controlled();
      const breaker = circuitBreaker<string, string>({
        clock,
        halfOpenAfterMs: 1_000,
        strategy: consecutiveFailures({ threshold: 1 }),
      });
      const call = breaker.wrap(service);
      const ctx = createContext({ clock });
      const first = outcome(call('x', ctx));
      pending[0]!.reject(boom());
      await first;
      assert.equal(breaker.state, 'open');
      await clock.advance(999);
      assert.equal(await outcome(call('x', ctx)), ErrorCode.CIRCUIT_OPEN);
      await clock.advance(1);
      assert.equal(breaker.state, 'half-open');
      const probe = outcome(call('x', ctx));
      const concurrent = await outcome(call('x', ctx));
      assert.equal(concurrent, ErrorCode.CIRCUIT_OPEN, 'a second caller is refused while the probe runs');
      assert.equal(pending.length, 2);
      pending[1]!.resolve('fine');
      assert.equal(await probe, 'ok:fine');
      assert.equal(breaker.state, 'closed');
      assert.deepEqual(states.events, ['closed->open', 'open->half-open', 'half-open->closed']);
    } finally {
      states.stop();
    }
  });

  it('re-opens when a probe fails, for a fresh open period', async () => {
    const clock = new FakeClock();
    const { service, pending } = controlled();
    const breaker = circuitBreaker<string, string>({
      clock,
      halfOpenAfterMs: 500,
      strategy: consecutiveFailures({ threshold: 1 }),
    });
    const call = breaker.wrap(service);
    const ctx = createContext({ clock });
    const first = outcome(call('x', ctx));
    pending[0]!.reject(boom());
    await first;
    await clock.advance(500);
    const probe = outcome(call('x', ctx));
    await clock.advance(100);
    pending[1]!.reject(boom());
    await probe;
    assert.equal(breaker.state, 'open');
    await clock.advance(499);
    assert.equal(breaker.state, 'open', 'the open period restarted when the probe failed');
    await clock.advance(1);
    assert.equal(breaker.state, 'half-open');
  });

  it('admits exactly halfOpenProbes concurrent probes and ignores results from an earlier period', async () => {
    const clock = new FakeClock();
    const { service, pending } = controlled();
    const breaker = circuitBreaker<string, string>({
      clock,
      halfOpenAfterMs: 100,
      halfOpenProbes: 2,
      strategy: consecutiveFailures({ threshold: 1 }),
    });
    const call = breaker.wrap(service);
    const ctx = createContext({ clock });
    const opener = outcome(call('x', ctx));
    pending[0]!.reject(boom());
    await opener;
    await clock.advance(100);
    const racers = Array.from({ length: 6 }, () => outcome(call('x', ctx)));
    assert.equal(pending.length, 3, 'two probes reached the service');
    pending[1]!.reject(boom());
    await new Promise((r) => setImmediate(r));
    assert.equal(breaker.state, 'open');
    pending[2]!.resolve('late');
    await new Promise((r) => setImmediate(r));
    assert.equal(breaker.state, 'open', 'a probe of a finished half-open period does not close the circuit');
    const results = await Promise.all(racers);
    assert.equal(results.filter((r) => r === ErrorCode.CIRCUIT_OPEN).length, 4);
    await clock.advance(100);
    const probes = [outcome(call('x', ctx)), outcome(call('x', ctx))];
    pending[3]!.resolve('a');
    await new Promise((r) => setImmediate(r));
    assert.equal(breaker.state, 'half-open', 'one of two probes is not enough');
    pending[4]!.resolve('b');
    await Promise.all(probes);
    assert.equal(breaker.state, 'closed');
  });

  it('frees a probe slot when the probe is cancelled, without counting it', async () => {
    const clock = new FakeClock();
    const { service, pending } = controlled();
    const breaker = circuitBreaker<string, string>({
      clock,
      halfOpenAfterMs: 100,
      strategy: consecutiveFailures({ threshold: 1 }),
    });
    const call = breaker.wrap(service);
    const ctx = createContext({ clock });
    const opener = outcome(call('x', ctx));
    pending[0]!.reject(boom());
    await opener;
    await clock.advance(100);
    const probe = outcome(call('x', ctx));
    pending[1]!.reject(new DOMException('caller left', 'AbortError'));
    await probe;
    assert.equal(breaker.state, 'half-open');
    const next = outcome(call('x', ctx));
    assert.equal(pending.length, 3, 'the freed slot admitted another probe');
    pending[2]!.resolve('ok');
    await next;
    assert.equal(breaker.state, 'closed');
  });

  it('never counts an AbortError, and by default not a local refusal', async () => {
    const clock = new FakeClock();
    const errors: unknown[] = [
      new DOMException('cancelled', 'AbortError'),
      new MeshError(ErrorCode.BULKHEAD_FULL, 'full', { rejected: true }),
    ];
    const breaker = circuitBreaker<string, string>({
      clock,
      strategy: consecutiveFailures({ threshold: 1 }),
      isFailure: (e) => !(isMeshError(e) && e.code === ErrorCode.BULKHEAD_FULL),
    });
    let i = 0;
    const call = breaker.wrap(async () => {
      throw errors[i++ % errors.length];
    });
    for (let n = 0; n < 4; n++) await outcome(call('x', createContext({ clock })));
    assert.equal(breaker.state, 'closed');
    const byDefault = circuitBreaker<string, string>({
      clock,
      strategy: consecutiveFailures({ threshold: 1 }),
    });
    const call2 = byDefault.wrap(async () => {
      throw errors[1];
    });
    await outcome(call2('x', createContext({ clock })));
    assert.equal(byDefault.state, 'closed');
  });

  it('counts slow successes as failures above slowCallMs', async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker<string, string>({
      clock,
      slowCallMs: 100,
      strategy: consecutiveFailures({ threshold: 2 }),
    });
    const call = breaker.wrap(async () => {
      await clock.advance(150);
      return 'slow';
    });
    assert.equal(await call('x', createContext({ clock })), 'slow');
    assert.equal(breaker.state, 'closed');
    assert.equal(await call('x', createContext({ clock })), 'slow');
    assert.equal(breaker.state, 'open');
  });

  it('opens on failure rate over a sliding window only past the minimum throughput', async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker<string, string>({
      clock,
      strategy: failureRate({ threshold: 0.5, windowMs: 1_000, minimumThroughput: 4 }),
    });
    let fail = false;
    const call = breaker.wrap(async () => {
      if (fail) throw boom();
      return 'ok';
    });
    const ctx = createContext({ clock });
    fail = true;
    for (let i = 0; i < 3; i++) await outcome(call('x', ctx));
    assert.equal(breaker.state, 'closed', 'three calls are below the minimum throughput');
    await clock.advance(1_000);
    fail = false;
    for (let i = 0; i < 3; i++) await call('x', ctx);
    fail = true;
    await outcome(call('x', ctx));
    assert.equal(breaker.state, 'closed', 'the old failures slid out: 1 of 4 failed');
    await outcome(call('x', ctx));
    await outcome(call('x', ctx));
    assert.equal(breaker.state, 'open', '3 of 6 failed');
  });

  it('isolates and resets by hand, and describes its state', async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker<string, string>({ clock, halfOpenAfterMs: 100 });
    const call = breaker.wrap(async () => 'ok');
    breaker.isolate();
    await clock.advance(1_000);
    assert.equal(breaker.state, 'isolated');
    assert.equal(await outcome(call('x', createContext({ clock }))), ErrorCode.CIRCUIT_OPEN);
    const described = breaker.describe();
    assert.equal(described.state, 'isolated');
    assert.equal(described.rejected, 1);
    assert.deepEqual(described.strategy, {
      name: 'consecutive-failures',
      threshold: 5,
      consecutiveFailures: 0,
    });
    breaker.reset();
    assert.equal(breaker.state, 'closed');
    assert.equal(await call('x', createContext({ clock })), 'ok');
    assert.equal(breaker.name, 'circuit-breaker');
  });

  it('rejects bad options naming the field', () => {
    const cases: [() => unknown, string][] = [
      [() => circuitBreaker({ halfOpenAfterMs: 0 }), 'circuitBreaker.halfOpenAfterMs'],
      [() => circuitBreaker({ halfOpenProbes: 0 }), 'circuitBreaker.halfOpenProbes'],
      [() => circuitBreaker({ slowCallMs: -1 }), 'circuitBreaker.slowCallMs'],
      [() => circuitBreaker({ isFailure: true as never }), 'circuitBreaker.isFailure'],
      [() => circuitBreaker({ strategy: {} as never }), 'circuitBreaker.strategy'],
      [() => consecutiveFailures({ threshold: 0 }), 'consecutiveFailures.threshold'],
      [() => failureRate({ threshold: 0 }), 'failureRate.threshold'],
      [() => failureRate({ threshold: 1.5 }), 'failureRate.threshold'],
      [() => failureRate({ windowMs: 0 }), 'failureRate.windowMs'],
      [() => failureRate({ minimumThroughput: 0 }), 'failureRate.minimumThroughput'],
      [() => failureRate({ buckets: 0 }), 'failureRate.buckets'],
    ];
    for (const [make, field] of cases) {
      assert.throws(make, (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
    }
  });
});
