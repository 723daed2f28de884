import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roundRobin } from '@meshkit/balance';
import {
  type ClientAttemptEvent,
  type ClientCallEvent,
  createContext,
  ErrorCode,
  exchangeChannels,
  FakeClock,
  MeshError,
  metadataText,
} from '@meshkit/core';
import { constantBackoff, hedge } from '@meshkit/policies';
import { clientStack } from './client-stack.ts';
import type { CallObservation } from './observe.ts';

const observation: CallObservation<string> = {
  protocol: 'test',
  describe: (req) => ({ method: 'GET', route: req }),
};

const unavailable = (): MeshError =>
  new MeshError(ErrorCode.CONNECTION_RESET, 'reset', { retryable: true, rejected: true });

/** Subscribes to the call and attempt channels for one test; returns what they saw. */
function record(t: { after(fn: () => void): void }) {
  const seen: string[] = [];
  const calls: ClientCallEvent[] = [];
  const attempts: ClientAttemptEvent[] = [];
  const callStart = (e: ClientCallEvent) => {
    seen.push('call:start');
    e.metadata.traceparent = 'from-call';
  };
  const callEnd = (e: ClientCallEvent) => {
    seen.push('call:end');
    calls.push(e);
  };
  const attemptStart = (e: ClientAttemptEvent) =>
    seen.push(`attempt:start:${e.kind}:${metadataText(e.ctx.metadata, 'traceparent')}`);
  const attemptEnd = (e: ClientAttemptEvent) => {
    seen.push(`attempt:end:${e.kind}`);
    attempts.push(e);
  };
  exchangeChannels.clientCallStart.subscribe(callStart);
  exchangeChannels.clientCallEnd.subscribe(callEnd);
  exchangeChannels.clientAttemptStart.subscribe(attemptStart);
  exchangeChannels.clientAttemptEnd.subscribe(attemptEnd);
  t.after(() => {
    exchangeChannels.clientCallStart.unsubscribe(callStart);
    exchangeChannels.clientCallEnd.unsubscribe(callEnd);
    exchangeChannels.clientAttemptStart.unsubscribe(attemptStart);
    exchangeChannels.clientAttemptEnd.unsubscribe(attemptEnd);
  });
  return { seen, calls, attempts };
}

describe('clientStack observation', () => {
  it('publishes one call around its attempts, first then retry, with the metadata a start subscriber added', async (t) => {
    const { seen, calls, attempts } = record(t);
    let n = 0;
    const sent: (string | undefined)[] = [];
    const pipeline = clientStack<string, string>({
      service: 'users',
      endpoints: [{ id: 'a', address: '10.0.0.1:80' }],
      connect: () => async (_req, ctx) => {
        sent.push(metadataText(ctx.metadata, 'traceparent'));
        if (++n === 1) throw unavailable();
        return 'ok';
      },
      observation,
      policies: { retry: { maxAttempts: 2, backoff: constantBackoff(0) }, breaker: false },
    });
    t.after(() => pipeline.close());

    assert.equal(await pipeline.service('/users/:id', createContext()), 'ok');

    assert.deepEqual(seen, [
      'call:start',
      'attempt:start:first:from-call',
      'attempt:end:first',
      'attempt:start:retry:from-call',
      'attempt:end:retry',
      'call:end',
    ]);
    assert.deepEqual(sent, ['from-call', 'from-call'], 'the call metadata reaches the transport');
    assert.equal(calls[0]!.route, '/users/:id');
    assert.equal(calls[0]!.result, 'ok');
    assert.equal(attempts[0]!.endpoint.id, 'a');
    assert.equal((attempts[0]!.error as MeshError).code, ErrorCode.CONNECTION_RESET);
    assert.equal(attempts[1]!.attempt, 2);
  });

  it('marks a hedge as a hedge, not a retry', async (t) => {
    const { attempts } = record(t);
    const clock = new FakeClock();
    const replies: ((value: string) => void)[] = [];
    const pipeline = clientStack<string, string>({
      service: 'users',
      endpoints: [
        { id: 'a', address: 'a:1' },
        { id: 'b', address: 'b:1' },
      ],
      connect: () => (_req, ctx) =>
        new Promise<string>((resolve, reject) => {
          replies.push(resolve);
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        }),
      observation,
      clock,
      layers: [hedge<string, string>({ delayMs: 10, maxHedges: 1 })],
      policies: { retry: false, breaker: false, deadlineMs: false, attemptTimeoutMs: false },
      balance: { picker: roundRobin() },
    });
    t.after(() => pipeline.close());

    const result = pipeline.service('/x', createContext({ clock }));
    await clock.advance(10);
    assert.equal(replies.length, 2, 'the hedge fired');
    replies[1]!('from the hedge');
    assert.equal(await result, 'from the hedge');
    assert.deepEqual(
      attempts.map((a) => a.kind),
      ['hedge', 'first'],
      'the hedge ended first (won), the first was cancelled after',
    );
  });

  it('publishes nothing and derives no context when nobody subscribes', async (t) => {
    assert.equal(exchangeChannels.clientCallStart.hasSubscribers, false);
    const root = createContext();
    let seenCtx: unknown;
    const pipeline = clientStack<string, string>({
      service: 'users',
      endpoints: [{ id: 'a', address: 'a:1' }],
      connect: () => async (_req, ctx) => {
        seenCtx = ctx.metadata;
        return 'ok';
      },
      observation,
      policies: { retry: false, breaker: false, deadlineMs: false, attemptTimeoutMs: false },
    });
    t.after(() => pipeline.close());
    assert.equal(await pipeline.service('/x', root), 'ok');
    assert.equal(seenCtx, root.metadata, 'the caller’s metadata object, untouched');
  });
});
