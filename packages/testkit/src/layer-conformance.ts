/**
 * The conformance suite every `Layer` passes: meshkit's own policies, the client pipeline's slots, and
 * any layer a user writes. It checks what every caller relies on whatever the layer does: a success
 * passes through, a caller's abort is honoured and reaches the work below, a streamed result holds the
 * layer's resources until its completion, `describe()` is plain data, and nothing is left on the clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CallContext,
  completable,
  createContext,
  type FakeClock,
  isAbortError,
  isMeshError,
  type Layer,
  readinessOf,
} from '@meshkit/core';

/** What the suite's inner services answer: an object, so a streamed answer can carry its completion. */
export interface ConformanceAnswer {
  readonly value: string;
}

/** Options of {@link layerConformance}. */
export interface LayerConformanceOptions {
  /** Suite name, e.g. `bulkhead`. */
  readonly name: string;
  /** A new layer on `clock` (each test makes its own). */
  readonly make: (clock: FakeClock) => Layer<string, ConformanceAnswer>;
  /** A new fake clock. */
  readonly clock: () => FakeClock;
  /**
   * Whether the layer may answer a failure with something else (retry, fallback): then a failing inner
   * service is not required to fail the call. Defaults to `false`.
   */
  readonly recovers?: boolean;
}

/** Runs the layer conformance suite with `node:test`. */
export function layerConformance(options: LayerConformanceOptions): void {
  const { make, recovers = false } = options;

  /** Lets every timer that is due run, in steps, for up to `ms`. */
  const settle = async (clock: FakeClock, ms = 5_000) => {
    for (let t = 0; t < ms; t += 50) await clock.advance(50);
  };

  describe(`${options.name}: layer conformance`, () => {
    it('has a name, and describes itself with plain data', () => {
      const layer = make(options.clock());
      assert.equal(typeof layer.name, 'string');
      assert.ok(layer.name.length > 0);
      const description = layer.describe?.();
      if (description !== undefined) {
        assert.deepEqual(JSON.parse(JSON.stringify(description)), description, 'describe() survives JSON');
      }
    });

    it('passes a success through and leaves no timer', async () => {
      const clock = options.clock();
      const call = make(clock).wrap(async (req) => ({ value: `${req}!` }));
      assert.equal((await call('a', createContext({ clock }))).value, 'a!');
      await settle(clock);
      assert.equal(clock.pendingTimers, 0);
    });

    it('passes a failure through (or recovers, when it says so) and leaves no timer', async () => {
      const clock = options.clock();
      const failure = new Error('inner failed');
      let calls = 0;
      const call = make(clock).wrap(async () => {
        calls++;
        throw failure;
      });
      const outcome = call('a', createContext({ clock })).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      await settle(clock);
      const result = await outcome;
      if (!recovers) {
        assert.ok('error' in result, 'the call failed');
        assert.ok(result.error === failure || (isMeshError(result.error) && result.error.cause === failure));
      }
      assert.ok(calls >= 1);
      await settle(clock);
      assert.equal(clock.pendingTimers, 0);
    });

    it("honours the caller's abort: the call settles, the work below sees it, no timer is left", async () => {
      const clock = options.clock();
      const caller = new AbortController();
      let seen: CallContext | undefined;
      const call = make(clock).wrap(
        (_req, ctx) =>
          new Promise<ConformanceAnswer>((_resolve, reject) => {
            seen = ctx;
            ctx.onAbort((reason) => reject(reason));
          }),
      );
      const outcome = call('a', createContext({ clock, signal: caller.signal })).then(
        () => 'resolved',
        (error: unknown) => error,
      );
      await clock.advance(0);
      assert.ok(seen !== undefined, 'the call reached the service below');
      const reason = new Error('caller gave up');
      caller.abort(reason);
      const error = await outcome;
      assert.ok(seen.aborted, 'the work below was told');
      assert.ok(error === reason || isAbortError(error) || isMeshError(error), String(error));
      await settle(clock);
      assert.equal(clock.pendingTimers, 0);
    });

    it('holds a streamed result until its completion, then releases everything', async () => {
      const clock = options.clock();
      const layer = make(clock);
      const streams: ReturnType<typeof completable>[] = [];
      const call = layer.wrap(async (req) => {
        const result = { value: req };
        streams.push(completable(result));
        return result;
      });
      assert.equal((await call('a', createContext({ clock }))).value, 'a');
      assert.equal(streams.length, 1);
      streams[0]!.complete();
      await settle(clock);
      assert.equal(clock.pendingTimers, 0, 'nothing left once the stream completed');
      assert.equal((await call('b', createContext({ clock }))).value, 'b');
      streams[1]!.complete();
      await settle(clock);
      assert.equal(clock.pendingTimers, 0);
    });

    it('reports readiness as plain state', () => {
      const clock = options.clock();
      const service = make(clock).wrap(async (req) => ({ value: req }));
      assert.ok(['ready', 'busy', 'closed'].includes(readinessOf(service)));
    });
  });
}
