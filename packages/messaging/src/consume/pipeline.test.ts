import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CallContext, FakeClock, type Layer, layer } from '@meshkit/core';
import { consume, type Message } from '../consumer.ts';
import { headerNames } from '../envelope.ts';
import { memoryBroker } from '../memory-broker.ts';
import { publisher } from '../publisher.ts';
import { collect } from '../test-support/collect.ts';
import { type HandlerResult, settle } from './settlement.ts';

function setup() {
  const clock = new FakeClock();
  const broker = memoryBroker({ clock, visibilityTimeoutMs: 1_000 });
  const events = publisher(broker, { source: '/test', clock });
  return { clock, broker, events };
}

describe('consumer pipeline', () => {
  it('a handler returning settle.deadLetter() dead-letters at once, never retried', async () => {
    const { clock, broker, events } = setup();
    const dead = await collect(broker, 'dlq', ['dead-letter.g']);
    const attempts: number[] = [];
    const consumer = await consume(broker, {
      group: 'g',
      clock,
      topics: ['orders'],
      handler: async (msg: Message<{ kind: string }>) => {
        attempts.push(msg.attempt);
        if (msg.data.kind !== 'known') return settle.deadLetter(`unknown kind ${msg.data.kind}`);
      },
    });
    await events.publish('orders', { kind: 'strange' }, { id: 'e1' });
    await events.publish('orders', { kind: 'known' }, { id: 'e2' });
    await clock.advance(120_000);
    assert.deepEqual(attempts, [1, 1]);
    assert.equal(dead.deliveries.length, 1);
    const h = dead.deliveries[0]!.headers;
    assert.equal(h['ce-id'], 'e1');
    assert.equal(h[headerNames.deadLetterReason], 'handler-rejected');
    assert.equal(h[headerNames.error], 'unknown kind strange');
    assert.equal(h[headerNames.attempt], '1');
    assert.deepEqual(
      [consumer.describe().handled, consumer.describe().retried, consumer.describe().deadLettered],
      [1, 0, 1],
    );
    await consumer.stop();
  });

  it('settle.retry() counts as a failed attempt with its own delay, then dead-letters after the last', async () => {
    const { clock, broker, events } = setup();
    const dead = await collect(broker, 'dlq', ['dead-letter.g']);
    const at: number[] = [];
    const consumer = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      retry: { maxAttempts: 3 },
      handler: async (_msg, ctx) => {
        at.push(ctx.clock.now());
        return settle.retry(new Error('over quota'), 7_000);
      },
    });
    await events.publish('t', 1);
    await clock.advance(6_999);
    assert.equal(at.length, 1);
    await clock.advance(1);
    assert.equal(at.length, 2);
    await clock.advance(7_000);
    assert.deepEqual(
      at.map((t) => t - at[0]!),
      [0, 7_000, 14_000],
    );
    await clock.advance(60_000);
    assert.equal(at.length, 3, 'nothing loops');
    assert.equal(dead.deliveries.length, 1);
    assert.equal(dead.deliveries[0]!.headers[headerNames.deadLetterReason], 'handler-failed');
    assert.equal(dead.deliveries[0]!.headers[headerNames.error], 'over quota');
    assert.equal(consumer.describe().retried, 2);
    await consumer.stop();
  });

  it('runs the user layers in request order around the handler, inside retry and dead-letter', async () => {
    const { clock, broker, events } = setup();
    const dead = await collect(broker, 'dlq', ['dead-letter.g']);
    const trail: string[] = [];
    const tracing = (name: string): Layer<Message<string>, HandlerResult> =>
      layer(name, (next) => async (msg, ctx) => {
        trail.push(`${name}>${String(msg.data)}#${ctx.attempt}`);
        const result = await next(msg, ctx);
        trail.push(`${name}<`);
        return result;
      });
    // A user layer may decide too: it turns one failure into a dead letter, without a special error.
    const refuseTeapots: Layer<Message<string>, HandlerResult> = layer(
      'refuse-teapots',
      (next) => (msg, ctx) =>
        next(msg, ctx).catch((error: unknown) => {
          if (error instanceof Error && error.message === 'teapot') return settle.deadLetter(error);
          throw error;
        }),
    );
    let failOnce = true;
    const consumer = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      retry: { maxAttempts: 3 },
      layers: [tracing('outer'), refuseTeapots, tracing('inner')],
      handler: async (msg: Message<string>) => {
        trail.push(`handler ${msg.data}`);
        if (msg.data === 'teapot') throw new Error('teapot');
        if (msg.data === 'flaky' && failOnce) {
          failOnce = false;
          throw new Error('flaky');
        }
      },
    });
    await events.publish('t', 'flaky');
    await clock.advance(60_000);
    assert.deepEqual(trail, [
      'outer>flaky#1',
      'inner>flaky#1',
      'handler flaky',
      'outer>flaky#2',
      'inner>flaky#2',
      'handler flaky',
      'inner<',
      'outer<',
    ]);
    trail.length = 0;
    await events.publish('t', 'teapot');
    await clock.advance(60_000);
    assert.deepEqual(trail, ['outer>teapot#1', 'inner>teapot#1', 'handler teapot', 'outer<']);
    assert.equal(dead.deliveries.length, 1);
    assert.equal(dead.deliveries[0]!.headers[headerNames.deadLetterReason], 'handler-rejected');
    assert.deepEqual(
      (consumer.describe().layers as { name: string }[]).map((l) => l.name),
      ['delivery-limit', 'decode', 'deadline-skip', 'retry-dead-letter', 'outer', 'refuse-teapots', 'inner'],
    );
    await consumer.stop();
  });

  it('a value that is not a settlement acks; a synchronous throw is a failure like a rejection', async () => {
    const { clock, broker, events } = setup();
    const seen: string[] = [];
    const consumer = await consume(broker, {
      group: 'g',
      clock,
      topics: ['t'],
      retry: { maxAttempts: 2 },
      handler: ((msg: Message<string>, _ctx: CallContext) => {
        seen.push(`${msg.data}#${msg.attempt}`);
        if (msg.data === 'throws' && msg.attempt === 1) throw new Error('sync');
        return Promise.resolve({ kind: 'dead-letter', reason: 'handler-rejected', error: 'forged' });
      }) as never,
    });
    await events.publish('t', 'value');
    await events.publish('t', 'throws');
    await clock.advance(60_000);
    assert.deepEqual(seen, ['value#1', 'throws#1', 'throws#2']);
    assert.deepEqual([consumer.describe().handled, consumer.describe().deadLettered], [2, 0]);
    await consumer.stop();
  });

  it('validates the user layers, naming the field', async () => {
    const broker = memoryBroker();
    const handler = async () => {};
    await assert.rejects(
      consume(broker, { group: 'g', topics: ['t'], handler, layers: [{ name: 'x' } as never] }),
      /consume.layers\[0\] must be a Layer/,
    );
    await assert.rejects(
      consume(broker, { group: 'g', topics: ['t'], handler, layers: 'no' as never }),
      /consume.layers must be an array/,
    );
  });
});
