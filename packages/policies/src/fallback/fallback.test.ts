import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channels, createContext, type FallbackEvent, InvalidArgumentError } from '@meshkit/core';
import { fallback } from './index.ts';

const failing = (error: unknown) => async (): Promise<string> => {
  throw error;
};

describe('fallback', () => {
  it('passes success through untouched', async () => {
    const call = fallback<string, string>({ value: 'cached' }).wrap(async () => 'live');
    assert.equal(await call('x', createContext()), 'live');
  });

  it('replaces a failure with a value and publishes it', async () => {
    const events: FallbackEvent[] = [];
    const listener = (e: FallbackEvent): void => {
      events.push(e);
    };
    channels.fallback.subscribe(listener);
    try {
      const boom = new Error('down');
      const call = fallback<string, string>({ value: 'cached', name: 'recs' }).wrap(failing(boom));
      assert.equal(await call('x', createContext()), 'cached');
      assert.deepEqual(events, [{ layer: 'recs', error: boom }]);
    } finally {
      channels.fallback.unsubscribe(listener);
    }
  });

  it('computes the answer from the error, and lets that computation fail', async () => {
    const call = fallback<string, string>({ fromError: (e) => `degraded: ${(e as Error).message}` }).wrap(
      failing(new Error('down')),
    );
    assert.equal(await call('x', createContext()), 'degraded: down');
    const broken = fallback<string, string>({
      fromError: async () => {
        throw new Error('no cache either');
      },
    }).wrap(failing(new Error('down')));
    await assert.rejects(broken('x', createContext()), /no cache either/);
  });

  it('replaces only what `when` accepts, and never a cancellation', async () => {
    const layer = fallback<string, string>({ value: 'cached', when: (e) => (e as Error).message === 'down' });
    await assert.rejects(layer.wrap(failing(new Error('bad request')))('x', createContext()), /bad request/);
    const abort = new DOMException('gone', 'AbortError');
    const always = fallback<string, string>({ value: 'cached' });
    await assert.rejects(always.wrap(failing(abort))('x', createContext()), (e) => e === abort);
  });

  it('accepts undefined as the value', async () => {
    const call = fallback<string, string | undefined>({ value: undefined }).wrap(failing(new Error('x')));
    assert.equal(await call('x', createContext()), undefined);
  });

  it('rejects bad options naming the field', () => {
    const cases: [() => unknown, string][] = [
      [() => fallback({}), 'fallback.value'],
      [() => fallback({ value: 1, fromError: () => 2 }), 'fallback.value'],
      [() => fallback({ fromError: 'x' as never }), 'fallback.fromError'],
      [() => fallback({ value: 1, when: 1 as never }), 'fallback.when'],
    ];
    for (const [make, field] of cases) {
      assert.throws(make, (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
    }
  });
});
