import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeAttributes, headerNames } from '@meshkit/messaging';
import type { MessageProperties } from 'amqplib';
import { fromAmqp, toAmqp, topicHeader } from './wire.ts';

const props = (p: Partial<MessageProperties>): MessageProperties => p as MessageProperties;

describe('AMQP wire mapping', () => {
  const headers = encodeAttributes(
    {
      id: 'evt-1',
      source: '/user-service',
      type: 'user.created',
      time: '2026-12-05T10:00:00.000Z',
      contentType: 'application/json',
    },
    { traceparent: '00-abc-def-01', [headerNames.deadline]: '1765000000000', 'x-origin': 'test' },
  );
  const record = { topic: 'user.created', key: '42', headers, body: new Uint8Array([1]) };

  it('writes the seed properties and the CloudEvents attributes as cloudEvents: headers', () => {
    const out = toAmqp(record, 0, true);
    assert.equal(out.persistent, true);
    assert.equal(out.mandatory, true);
    assert.equal(out.contentType, 'application/json');
    assert.equal(out.messageId, 'evt-1');
    assert.equal(out.timestamp, Date.parse('2026-12-05T10:00:00.000Z') / 1_000);
    assert.deepEqual(out.headers, {
      'cloudEvents:specversion': '1.0',
      'cloudEvents:id': 'evt-1',
      'cloudEvents:source': '/user-service',
      'cloudEvents:type': 'user.created',
      'cloudEvents:time': '2026-12-05T10:00:00.000Z',
      'cloudEvents:partitionkey': '42',
      traceparent: '00-abc-def-01',
      'meshkit-deadline': '1765000000000',
      'x-origin': 'test',
    });
  });

  it('reads back exactly what it wrote', () => {
    const out = toAmqp(record, 0, true);
    const back = fromAmqp(
      'user.created',
      'events',
      props({ headers: out.headers, contentType: out.contentType }),
    );
    assert.equal(back.topic, 'user.created');
    assert.equal(back.key, '42');
    assert.deepEqual(back.headers, headers);
    assert.equal(back.deliveryCount, undefined);
  });

  it('gives a stock message (message_id, timestamp in ms as the seed writes it) its CloudEvents attributes', () => {
    const now = Date.parse('2026-12-05T10:00:00.000Z');
    const back = fromAmqp(
      'user.created',
      'events',
      props({ messageId: 'user-123', timestamp: now, contentType: 'application/json' }),
    );
    assert.deepEqual(back.headers, {
      [headerNames.contentType]: 'application/json',
      [headerNames.id]: 'user-123',
      [headerNames.specVersion]: '1.0',
      [headerNames.type]: 'user.created',
      [headerNames.source]: '/amqp/events',
      [headerNames.time]: '2026-12-05T10:00:00.000Z',
    });
    const seconds = fromAmqp(
      'user.created',
      'events',
      props({ messageId: 'x', timestamp: now / 1_000, appId: 'billing' }),
    );
    assert.equal(seconds.headers[headerNames.time], '2026-12-05T10:00:00.000Z');
    assert.equal(seconds.headers[headerNames.source], 'billing');
  });

  it('leaves a message without message_id without an id (the consumer dead-letters it)', () => {
    const back = fromAmqp('user.created', 'events', props({ headers: { a: 1 } }));
    assert.equal(back.headers[headerNames.id], undefined);
    assert.equal(back.headers.a, '1');
  });

  it('stamps each record with its own time, and with now when its ce-time is not a time', () => {
    const at = (time: string | undefined) => {
      const h: Record<string, string> = { ...headers };
      if (time === undefined) delete h[headerNames.time];
      else h[headerNames.time] = time;
      return toAmqp({ ...record, headers: h }, 7_000, true).timestamp;
    };
    assert.equal(at('2026-12-05T10:00:01.000Z'), Date.parse('2026-12-05T10:00:01.000Z') / 1_000);
    assert.equal(at('2026-12-05T10:00:01.000Z'), Date.parse('2026-12-05T10:00:01.000Z') / 1_000);
    assert.equal(at('2026-12-05T10:00:02.000Z'), Date.parse('2026-12-05T10:00:02.000Z') / 1_000);
    assert.equal(at('not a time'), 7);
    assert.equal(at(undefined), 7);
    assert.equal(at('2026-12-05T10:00:02.000Z'), Date.parse('2026-12-05T10:00:02.000Z') / 1_000);
  });

  it('maps every header name on its own, however many distinct names pass by', () => {
    for (let i = 0; i < 300; i++) {
      const out = toAmqp({ ...record, headers: { [`ce-ext${i}`]: 'v', [`x-h${i}`]: 'w' } }, 0, false);
      assert.deepEqual(out.headers, {
        [`cloudEvents:ext${i}`]: 'v',
        [`x-h${i}`]: 'w',
        'cloudEvents:partitionkey': '42',
      });
      const back = fromAmqp(
        't',
        'events',
        props({ headers: { [`cloudEvents:Ext${i}`]: 'v', [`X-H${i}`]: 'w' } }),
      );
      assert.deepEqual(back.headers, { [`ce-ext${i}`]: 'v', [`x-h${i}`]: 'w' });
    }
  });

  it('drops what the broker adds, reads the quorum delivery count and the retry topic', () => {
    const back = fromAmqp(
      'g.retry.1024',
      '',
      props({
        messageId: 'm',
        headers: {
          'x-death': [{ count: 1 }] as never,
          'x-first-death-queue': 'g.retry.1024',
          'x-delivery-count': 2,
          [topicHeader]: 'user.created',
          cloudEvents_id: 'm',
          'x-binary': Buffer.from('bytes'),
          'x-table': { nested: true },
        },
      }),
    );
    assert.equal(back.topic, 'user.created');
    assert.equal(back.deliveryCount, 3);
    assert.deepEqual(back.headers, { 'ce-id': 'm', 'x-binary': 'bytes' });
  });
});
