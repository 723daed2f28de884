import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContext, FakeClock, metadataText } from '@meshkit/core';
import { messagingChannels, type ProcessEvent, type PublishEvent } from './channels.ts';
import { settle } from './consume/settlement.ts';
import { consume } from './consumer.ts';
import { headerNames } from './envelope.ts';
import { memoryBroker } from './memory-broker.ts';
import { publisher } from './publisher.ts';

describe('messaging events', () => {
  it('publish: one object on start and end; the start’s metadata goes out as the trace headers', async (t) => {
    const clock = new FakeClock();
    const broker = memoryBroker({ clock, maxMessageBytes: 64 });
    const ends: PublishEvent[] = [];
    const start = (e: PublishEvent) => {
      e.metadata.traceparent = 'from-start';
    };
    const end = (e: PublishEvent) => ends.push(e);
    messagingChannels.publishStart.subscribe(start);
    messagingChannels.publishEnd.subscribe(end);
    t.after(() => {
      messagingChannels.publishStart.unsubscribe(start);
      messagingChannels.publishEnd.unsubscribe(end);
    });
    const handled: (string | undefined)[] = [];
    const consumer = await consume(broker, {
      group: 'g',
      topics: ['user.created'],
      clock,
      handler: async (msg) => {
        handled.push(msg.headers[headerNames.traceparent]);
      },
    });
    t.after(() => consumer.stop());
    const events = publisher(broker, { source: '/users', clock });
    const ctx = createContext({ clock, metadata: { traceparent: 'from-caller' } });

    const receipt = await events.publish('user.created', { id: 1 }, {}, ctx);
    await assert.rejects(events.publish('user.created', { big: 'x'.repeat(200) }));
    await clock.flush();

    assert.deepEqual(
      ends.map((e) => [e.topic, e.id === receipt.id, e.error === undefined, e.ctx === ctx]),
      [
        ['user.created', true, true, true],
        ['user.created', false, false, false],
      ],
    );
    assert.deepEqual(handled, ['from-start']);
  });

  it('publishBatch: an event carrying a traceparent header (an outbox row) is published in that trace', async (t) => {
    const clock = new FakeClock();
    const broker = memoryBroker({ clock });
    const parents: (string | undefined)[] = [];
    const start = (e: PublishEvent) => {
      parents.push(metadataText(e.ctx?.metadata, 'traceparent'));
      e.metadata.traceparent = `producer-under-${metadataText(e.ctx?.metadata, 'traceparent') ?? 'nothing'}`;
    };
    messagingChannels.publishStart.subscribe(start);
    t.after(() => messagingChannels.publishStart.unsubscribe(start));
    const handled: (string | undefined)[] = [];
    const consumer = await consume(broker, {
      group: 'g',
      topics: ['user.created'],
      clock,
      concurrency: 1,
      handler: async (msg) => {
        handled.push(msg.headers[headerNames.traceparent]);
      },
    });
    t.after(() => consumer.stop());
    const events = publisher(broker, { source: '/users', clock });

    const outcomes = await events.publishBatch([
      { topic: 'user.created', data: { n: 1 }, key: 'a', headers: { traceparent: 'request-a' } },
      { topic: 'user.created', data: { n: 2 }, key: 'a' },
    ]);
    await clock.flush();

    assert.deepEqual(
      outcomes.map((o) => o.ok),
      [true, true],
    );
    assert.deepEqual(parents, ['request-a', undefined], 'only the traced row has a parent');
    assert.deepEqual(handled, ['producer-under-request-a', 'producer-under-nothing']);
  });

  it('process: the settlement on end, the delivery count, and the start’s metadata in the handler’s context', async (t) => {
    const clock = new FakeClock();
    const broker = memoryBroker({ clock });
    const ends: ProcessEvent[] = [];
    const start = (e: ProcessEvent) => {
      e.metadata.traceparent = `process-of-${e.metadata.traceparent}`;
    };
    const end = (e: ProcessEvent) => ends.push({ ...e });
    messagingChannels.processStart.subscribe(start);
    messagingChannels.processEnd.subscribe(end);
    t.after(() => {
      messagingChannels.processStart.unsubscribe(start);
      messagingChannels.processEnd.unsubscribe(end);
    });
    const seen: (string | undefined)[] = [];
    const consumer = await consume<{ n: number }>(broker, {
      group: 'g',
      topics: ['user.created'],
      clock,
      handler: async (msg, ctx) => {
        seen.push(metadataText(ctx.metadata, 'traceparent'));
        if (msg.data.n === 2) return settle.deadLetter('bad');
        return undefined;
      },
    });
    t.after(() => consumer.stop());
    const events = publisher(broker, { source: '/users', clock });
    const ctx = createContext({ clock, metadata: { traceparent: 'tp' } });
    await events.publish('user.created', { n: 1 }, {}, ctx);
    await events.publish('user.created', { n: 2 }, {}, ctx);
    await clock.flush();

    assert.deepEqual(seen, ['process-of-tp', 'process-of-tp']);
    assert.deepEqual(
      ends.map((e) => [e.group, e.topic, e.attempt, e.settlement]),
      [
        ['g', 'user.created', 1, 'ack'],
        ['g', 'user.created', 1, 'dead-letter'],
      ],
    );
    assert.equal(ends[0]!.deliveryCount, 1);
  });
});
