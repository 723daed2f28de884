import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BulkheadRejectedEvent,
  channels,
  createContext,
  ErrorCode,
  InvalidArgumentError,
  isAbortError,
  isMeshError,
} from '@meshkit/core';
import { bulkhead } from './index.ts';

function controlled() {
  const pending: { req: string; resolve: (v: string) => void; reject: (e: unknown) => void }[] = [];
  const service = (req: string) =>
    new Promise<string>((resolve, reject) => {
      pending.push({ req, resolve, reject });
    });
  return { service, pending };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('bulkhead', () => {
  it('runs up to maxConcurrent calls, queues the next ones first in first out, and refuses the rest', async () => {
    const { service, pending } = controlled();
    const layer = bulkhead<string, string>({ maxConcurrent: 2, maxQueue: 2 });
    const call = layer.wrap(service);
    const ctx = createContext();
    const results = ['a', 'b', 'c', 'd'].map((r) => call(r, ctx));
    const refused = await call('e', ctx).catch((e: unknown) => e);
    assert.ok(isMeshError(refused));
    assert.equal(refused.code, ErrorCode.BULKHEAD_FULL);
    assert.equal(refused.rejected, true);
    assert.deepEqual(
      pending.map((p) => p.req),
      ['a', 'b'],
    );
    assert.deepEqual([layer.active, layer.queued], [2, 2]);
    pending[1]!.resolve('B');
    assert.equal(await results[1], 'B');
    await tick();
    assert.deepEqual(
      pending.map((p) => p.req),
      ['a', 'b', 'c'],
    );
    pending[0]!.reject(new Error('a failed'));
    await assert.rejects(results[0]!, /a failed/);
    await tick();
    assert.deepEqual(
      pending.map((p) => p.req),
      ['a', 'b', 'c', 'd'],
    );
    pending[2]!.resolve('C');
    pending[3]!.resolve('D');
    assert.deepEqual(await Promise.all(results.slice(2)), ['C', 'D']);
    assert.deepEqual(layer.describe(), { maxConcurrent: 2, maxQueue: 2, active: 0, queued: 0, rejected: 1 });
  });

  it('lets a queued caller that aborts leave the queue at once', async () => {
    const { service, pending } = controlled();
    const layer = bulkhead<string, string>({ maxConcurrent: 1, maxQueue: 2 });
    const call = layer.wrap(service);
    const first = call('a', createContext());
    const leaving = new AbortController();
    const queued = call('b', createContext({ signal: leaving.signal }));
    const staying = call('c', createContext());
    leaving.abort(new Error('gave up'));
    const error = await queued.catch((e: unknown) => e);
    assert.ok(isAbortError(error));
    assert.equal(layer.queued, 1);
    pending[0]!.resolve('A');
    await first;
    await tick();
    assert.deepEqual(
      pending.map((p) => p.req),
      ['a', 'c'],
      'the aborted caller never ran',
    );
    pending[1]!.resolve('C');
    assert.equal(await staying, 'C');
    assert.equal(layer.active, 0);
  });

  it('refuses an already-cancelled caller instead of queueing it', async () => {
    const { service } = controlled();
    const call = bulkhead<string, string>({ maxConcurrent: 1, maxQueue: 1 }).wrap(service);
    void call('a', createContext());
    const gone = new AbortController();
    gone.abort();
    assert.ok(isAbortError(await call('b', createContext({ signal: gone.signal })).catch((e: unknown) => e)));
  });

  it('frees the slot when the service throws synchronously', async () => {
    const layer = bulkhead<string, string>({ maxConcurrent: 1 });
    const call = layer.wrap(() => {
      throw new Error('sync');
    });
    await assert.rejects(call('a', createContext()), /sync/);
    assert.equal(layer.active, 0);
  });

  it('publishes rejections', async () => {
    const events: BulkheadRejectedEvent[] = [];
    const listener = (e: BulkheadRejectedEvent): void => {
      events.push(e);
    };
    channels.bulkheadRejected.subscribe(listener);
    try {
      const { service } = controlled();
      const call = bulkhead<string, string>({ maxConcurrent: 1, name: 'db' }).wrap(service);
      void call('a', createContext());
      await call('b', createContext()).catch(() => {});
      assert.deepEqual(events, [{ layer: 'db', active: 1, queued: 0 }]);
    } finally {
      channels.bulkheadRejected.unsubscribe(listener);
    }
  });

  it('rejects bad options naming the field', () => {
    const cases: [() => unknown, string][] = [
      [() => bulkhead({ maxConcurrent: 0 }), 'bulkhead.maxConcurrent'],
      [() => bulkhead({ maxQueue: -1 }), 'bulkhead.maxQueue'],
      [() => bulkhead({ maxQueue: 0.5 }), 'bulkhead.maxQueue'],
    ];
    for (const [make, field] of cases) {
      assert.throws(make, (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
    }
  });
});
