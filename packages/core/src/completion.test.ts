import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { completable, completionOf, whenComplete } from './completion.ts';
import { createContext } from './context.ts';
import { type Layer, readinessOf, type Service, stack, withReadiness } from './service.ts';

describe('completion', () => {
  it('runs listeners at once for a unary result, and on completion for a streamed one', () => {
    const order: string[] = [];
    whenComplete({ status: 200 }, () => order.push('unary'));
    whenComplete(42, () => order.push('number'));
    const streamed = { status: 200 };
    const completion = completable(streamed);
    whenComplete(streamed, (error) => order.push(`stream:${String(error)}`));
    assert.deepEqual(order, ['unary', 'number']);
    completion.complete();
    completion.complete(new Error('late'));
    assert.deepEqual(order, ['unary', 'number', 'stream:undefined']);
    whenComplete(streamed, () => order.push('after'));
    assert.equal(order.at(-1), 'after');
  });

  it('completes with the error that ended the stream, listeners in order, once', () => {
    const result = {};
    const completion = completable(result);
    assert.equal(completable(result), completion, 'a result keeps its one completion');
    const seen: unknown[] = [];
    for (let i = 0; i < 3; i++) completion.onDone((error) => seen.push([i, error]));
    const boom = new Error('reset');
    completion.complete(boom);
    completion.complete();
    assert.deepEqual(seen, [
      [0, boom],
      [1, boom],
      [2, boom],
    ]);
    assert.equal(completionOf(result)?.error, boom);
    assert.equal(completionOf({}), undefined);
  });
});

describe('call kind and metadata', () => {
  it('defaults to unary and is set by with({ kind })', () => {
    const root = createContext({ metadata: { 'x-a': ['1', '2'], 'trace-bin': new Uint8Array([1]) } });
    assert.equal(root.kind, 'unary');
    const streamed = root.with({ kind: 'server-stream' });
    assert.equal(streamed.kind, 'server-stream');
    assert.equal(streamed.with({ attempt: 2 }).kind, 'server-stream');
    assert.equal(createContext({ kind: 'bidi' }).kind, 'bidi');
    assert.deepEqual(streamed.metadata['x-a'], ['1', '2']);
  });
});

describe('readiness', () => {
  it('composes through stack(): a layer that says nothing passes on the readiness below', () => {
    let below: 'ready' | 'busy' | 'closed' = 'ready';
    const transport: Service<number, number> = withReadiness(
      async (n: number) => n,
      () => below,
    );
    const passThrough: Layer<number, number> = {
      name: 'pass',
      wrap: (next) => (n, ctx) => next(n, ctx),
    };
    let open = false;
    const gate: Layer<number, number> = {
      name: 'gate',
      wrap: (next) =>
        withReadiness<Service<number, number>>(
          (n, ctx) => next(n, ctx),
          () => (open ? 'closed' : readinessOf(next)),
        ),
    };
    const service = stack<number, number>(passThrough, gate, passThrough).wrap(transport);
    assert.equal(readinessOf(service), 'ready');
    below = 'busy';
    assert.equal(readinessOf(service), 'busy');
    open = true;
    assert.equal(readinessOf(service), 'closed');
    assert.equal(
      readinessOf(async () => 1),
      'ready',
    );
  });
});
