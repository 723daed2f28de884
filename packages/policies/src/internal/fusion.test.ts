import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CallContext,
  createContext,
  ErrorCode,
  FakeClock,
  isMeshError,
  type Layer,
  MeshError,
  stack,
} from '@meshkit/core';
import fc from 'fast-check';
import { bulkhead } from '../bulkhead/index.ts';
import { circuitBreaker, consecutiveFailures } from '../circuit-breaker/index.ts';
import { constantBackoff, retry } from '../retry/index.ts';
import { timeout } from '../timeout/index.ts';
import { pipelineOf } from './pipeline.ts';

/**
 * The fused fast path and the layered path must be indistinguishable to a caller. These properties run
 * the same stack twice, once as written (adjacent policies fuse) and once with a pass-through layer between
 * every two policies (which hides each policy's pipeline from the one above, so every layer takes its own
 * path), and compare what callers and the policies' own state observe.
 *
 * Sequential calls must agree exactly: results, inner invocations, breaker state and bulkhead occupancy
 * after every call. Concurrent calls interleave differently on the two paths (the fused path settles in
 * fewer microtask hops), so which concurrent call first meets an open breaker may differ; what must agree
 * is every result when the breaker cannot open, and on both paths every call settles with either the
 * inner service's answer or the breaker's refusal, every slot is released and no timer is left.
 */

/** What one attempt of the inner service does. */
type Behaviour = 'ok' | 'unavailable' | 'invalid' | 'hang';

const unavailable = () => new MeshError(ErrorCode.HTTP_STATUS, '503', { retryable: true });
const invalid = () => new MeshError(ErrorCode.INVALID_ARGUMENT, 'bad request', { retryable: false });

/** Hides the pipeline of the service below, so the layer above cannot fuse with it. */
const passThrough: Layer<string, string> = {
  name: 'pass-through',
  wrap: (next) => (req, ctx) => next(req, ctx),
};

function build(clock: FakeClock, fused: boolean, threshold: number) {
  const breaker = circuitBreaker<string, string>({
    clock,
    halfOpenAfterMs: 1_000,
    strategy: consecutiveFailures({ threshold }),
  });
  const slots = bulkhead<string, string>({ maxConcurrent: 4, maxQueue: 16 });
  const policies: Layer<string, string>[] = [
    timeout({ timeoutMs: 100 }),
    retry({ maxAttempts: 3, backoff: constantBackoff(10) }),
    breaker,
    slots,
  ];
  const layers = fused ? policies : policies.flatMap((p) => [p, passThrough]);
  return { breaker, slots, stack: stack<string, string>(...layers) };
}

/** An inner service whose attempts follow `script` per request (by attempt number), counting invocations. */
function scriptedInner(scripts: ReadonlyMap<string, readonly Behaviour[]>) {
  const invocations: string[] = [];
  const attempts = new Map<string, number>();
  const service = (req: string, ctx: CallContext): Promise<string> => {
    invocations.push(req);
    const n = attempts.get(req) ?? 0;
    attempts.set(req, n + 1);
    const behaviour = scripts.get(req)?.[n] ?? 'ok';
    switch (behaviour) {
      case 'ok':
        return Promise.resolve(`${req}:${n + 1}`);
      case 'unavailable':
        return Promise.reject(unavailable());
      case 'invalid':
        return Promise.reject(invalid());
      case 'hang':
        return new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
        });
    }
  };
  return { service, invocations };
}

function outcome(result: PromiseSettledResult<string>): string {
  if (result.status === 'fulfilled') return `ok ${result.value}`;
  const error: unknown = result.reason;
  return isMeshError(error) ? `error ${error.code}` : `error ${String(error)}`;
}

async function settleAll(
  clock: FakeClock,
  calls: Promise<string>[],
): Promise<PromiseSettledResult<string>[]> {
  const all = Promise.allSettled(calls);
  // Every timer in these stacks is at most 100 ms (timeout) or 10 ms (backoff): advancing in small
  // steps lets each fire in order, as real time would.
  for (let i = 0; i < 60; i++) await clock.advance(10);
  return all;
}

const behaviour = fc.constantFrom<Behaviour>('ok', 'ok', 'unavailable', 'unavailable', 'invalid', 'hang');
const script = fc.array(behaviour, { minLength: 1, maxLength: 3 });

describe('fused and layered policy paths', () => {
  it('the fusion this test relies on happens, and the pass-through layer prevents it', () => {
    const clock = new FakeClock();
    const inner = async (req: string) => req;
    const guards = (fused: boolean) => {
      const { stack: s } = build(clock, fused, 3);
      // The breaker and the bulkhead, with what the layered build puts between them.
      return stack<string, string>(...s.layers.slice(fused ? 2 : 4)).wrap(inner);
    };
    assert.equal(pipelineOf(guards(true))?.inner, inner, 'breaker and bulkhead fused over the inner service');
    assert.notEqual(pipelineOf(guards(false))?.inner, inner, 'each guard on its own path');
  });

  it('agree exactly on sequential calls', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(script, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 4 }),
        async (scripts, threshold) => {
          const observed = [];
          for (const fused of [true, false]) {
            const clock = new FakeClock();
            const { breaker, slots, stack: s } = build(clock, fused, threshold);
            const inner = scriptedInner(new Map(scripts.map((steps, i) => [`r${i}`, steps])));
            const call = s.wrap(inner.service);
            const trace: string[] = [];
            for (let i = 0; i < scripts.length; i++) {
              const [result] = await settleAll(clock, [call(`r${i}`, createContext({ clock }))]);
              trace.push(`${outcome(result!)} | ${breaker.state} | ${slots.active}`);
            }
            assert.equal(clock.pendingTimers, 0, 'no timer left');
            observed.push({ trace, invocations: inner.invocations });
          }
          assert.deepEqual(observed[0], observed[1]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('agree on every concurrent result while the breaker cannot open', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(script, { minLength: 1, maxLength: 10 }), async (scripts) => {
        const observed = [];
        for (const fused of [true, false]) {
          const clock = new FakeClock();
          const { slots, stack: s } = build(clock, fused, 1_000);
          const inner = scriptedInner(new Map(scripts.map((steps, i) => [`r${i}`, steps])));
          const call = s.wrap(inner.service);
          const results = await settleAll(
            clock,
            scripts.map((_, i) => call(`r${i}`, createContext({ clock }))),
          );
          assert.equal(slots.active + slots.queued, 0, 'every slot released');
          assert.equal(clock.pendingTimers, 0, 'no timer left');
          observed.push({ results: results.map(outcome), invocations: [...inner.invocations].sort() });
        }
        assert.deepEqual(observed[0], observed[1]);
      }),
      { numRuns: 150 },
    );
  });

  it('both settle every concurrent call, with an answer or the breaker refusal, when the breaker can open', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(script, { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 3 }),
        async (scripts, threshold) => {
          for (const fused of [true, false]) {
            const clock = new FakeClock();
            const { slots, stack: s } = build(clock, fused, threshold);
            const inner = scriptedInner(new Map(scripts.map((steps, i) => [`r${i}`, steps])));
            const call = s.wrap(inner.service);
            const results = await settleAll(
              clock,
              scripts.map((_, i) => call(`r${i}`, createContext({ clock }))),
            );
            const allowed = new Set<string>([
              ErrorCode.HTTP_STATUS,
              ErrorCode.INVALID_ARGUMENT,
              ErrorCode.TIMEOUT,
              ErrorCode.CIRCUIT_OPEN,
            ]);
            for (const result of results) {
              if (result.status === 'fulfilled') continue;
              assert.ok(isMeshError(result.reason), String(result.reason));
              assert.ok(allowed.has(result.reason.code), result.reason.code);
            }
            assert.equal(slots.active + slots.queued, 0, 'every slot released');
            assert.equal(clock.pendingTimers, 0, 'no timer left');
            assert.ok(inner.invocations.length <= scripts.length * 3, 'no more than three attempts per call');
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
