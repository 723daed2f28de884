import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '@meshkit/core';
import {
  fromWireName,
  headerNameOf,
  headerValueOf,
  retryTopicOf,
  toWireName,
  wireNameBytes,
  wireValueBytes,
  wrapPlainRecord,
} from './headers.ts';
import { kafkaBroker } from './kafka-broker.ts';
import { type KafkaBrokerOptions, resolveOptions } from './options.ts';

const field = (options: unknown): string => {
  try {
    resolveOptions(options as KafkaBrokerOptions);
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError);
    return error.field;
  }
  return 'accepted';
};

describe('kafkaBroker options', () => {
  it('applies the documented defaults', () => {
    const o = resolveOptions({ brokers: ['127.0.0.1:9092'] });
    assert.equal(o.clientId, 'meshkit');
    assert.equal(o.compression, 'zstd');
    assert.equal(o.maxRecordBytes, 1_000_000);
    assert.equal(o.partitions, 6);
    assert.equal(o.sessionTimeoutMs, 10_000);
    assert.equal(o.heartbeatIntervalMs, 1_000);
    assert.equal(o.rebalanceDrainMs, 5_000);
    assert.equal(o.topicRefreshMs, 2_000);
    assert.equal(o.retries, 60);
    assert.equal(o.retryDelayMs, 500);
    assert.equal(o.reopenInitialDelayMs, 500);
    assert.equal(o.reopenMaxDelayMs, 10_000);
    assert.equal(o.plainRecords, 'wrap');
  });

  it('names the field it refuses', () => {
    assert.equal(field(undefined), 'kafkaBroker.options');
    assert.equal(field({ brokers: [] }), 'kafkaBroker.brokers');
    assert.equal(field({ brokers: ['localhost'] }), 'kafkaBroker.brokers[0]');
    assert.equal(field({ brokers: ['a:1'], compression: 'brotli' }), 'kafkaBroker.compression');
    assert.equal(field({ brokers: ['a:1'], maxRecordBytes: 0 }), 'kafkaBroker.maxRecordBytes');
    assert.equal(
      field({ brokers: ['a:1'], sessionTimeoutMs: 1_000, heartbeatIntervalMs: 1_000 }),
      'kafkaBroker.heartbeatIntervalMs',
    );
    assert.equal(field({ brokers: ['a:1'], plainRecords: 'drop' }), 'kafkaBroker.plainRecords');
    assert.equal(field({ brokers: ['a:1'], retries: -1 }), 'kafkaBroker.retries');
    assert.equal(field({ brokers: ['a:1'], reopenInitialDelayMs: 0 }), 'kafkaBroker.reopenInitialDelayMs');
    assert.equal(
      field({ brokers: ['a:1'], reopenInitialDelayMs: 2_000, reopenMaxDelayMs: 1_000 }),
      'kafkaBroker.reopenMaxDelayMs',
    );
    assert.throws(() => kafkaBroker({ brokers: [] }), InvalidArgumentError);
  });
});

describe('kafka headers', () => {
  it('spells CloudEvents attributes with the Kafka binding and back; others pass through', () => {
    assert.equal(toWireName('ce-id'), 'ce_id');
    assert.equal(toWireName('traceparent'), 'traceparent');
    assert.equal(toWireName('content-type'), 'content-type');
    assert.equal(fromWireName('ce_specversion'), 'ce-specversion');
    assert.equal(fromWireName('meshkit-attempt'), 'meshkit-attempt');
  });

  it('writes names and repeating values as bytes encoded once, in buffers of their own', () => {
    assert.equal(wireNameBytes('ce-id').toString(), 'ce_id');
    assert.equal(wireNameBytes('traceparent').toString(), 'traceparent');
    assert.equal(wireNameBytes('ce-id'), wireNameBytes('ce-id'));
    const source = wireValueBytes('ce-source', '/users/é');
    assert.equal(source.toString(), '/users/é');
    assert.equal(wireValueBytes('ce-source', '/users/é'), source);
    // Not a slice of Node's shared pool, which a kept slice would keep alive.
    assert.equal(source.buffer.byteLength, source.byteLength);
    assert.equal(wireNameBytes('ce-type').buffer.byteLength, 'ce_type'.length);
    // Values that differ per record are encoded each time and never kept.
    const id = wireValueBytes('ce-id', 'abc');
    assert.equal(id.toString(), 'abc');
    assert.notEqual(wireValueBytes('ce-id', 'abc'), id);
  });

  it('reads names and values off the wire, the same text for the same bytes', () => {
    const response = Buffer.from('xxce_specversionce_idce_type');
    const name = headerNameOf(response.subarray(2, 16));
    assert.equal(name, 'ce-specversion');
    assert.equal(headerNameOf(Buffer.from('ce_specversion')), 'ce-specversion');
    // Same length, other bytes: another name.
    assert.equal(headerNameOf(Buffer.from('ce_type')), 'ce-type');
    assert.equal(headerNameOf(Buffer.from('ce_time')), 'ce-time');
    assert.equal(headerNameOf(Buffer.from('traceparent')), 'traceparent');
    // What is kept is a copy: changing the fetched bytes later changes nothing.
    response.write('zz', 2);
    assert.equal(headerNameOf(Buffer.from('ce_specversion')), 'ce-specversion');
    assert.equal(headerValueOf('ce-source', Buffer.from('/a')), '/a');
    assert.equal(headerValueOf('ce-source', Buffer.from('/a')), '/a');
    assert.equal(headerValueOf('ce-source', Buffer.from('/b')), '/b');
    assert.equal(headerValueOf('ce-id', Buffer.from('é1')), 'é1');
    assert.equal(headerValueOf('ce-id', null), '');
    assert.equal(headerValueOf('ce-source', undefined), '');
  });

  it('derives stable attributes for a plain record and keeps present ones', () => {
    const plain: Record<string, string> = {};
    wrapPlainRecord(plain, 'user-events', 3, 42n, 1_700_000_000_000n);
    assert.deepEqual(plain, {
      'ce-id': 'user-events-3-42',
      'ce-source': '/kafka/user-events',
      'ce-type': 'user-events',
      'ce-specversion': '1.0',
      'ce-time': '2023-11-14T22:13:20.000Z',
      'content-type': 'application/json',
    });
    const event = { 'ce-id': 'abc', 'ce-source': '/x' };
    wrapPlainRecord(event, 'user-events', 3, 42n, 0n);
    assert.deepEqual(event, { 'ce-id': 'abc', 'ce-source': '/x' });
  });

  it('names a retry topic per group with characters Kafka accepts', () => {
    assert.equal(retryTopicOf('user-processor'), 'meshkit-retry.user-processor');
    assert.equal(retryTopicOf('a b/c'), 'meshkit-retry.a_b_c');
    assert.ok(retryTopicOf('x'.repeat(400)).length <= 249);
  });
});

describe('kafkaBroker without a connection', () => {
  it('refuses an invalid topic name or an oversize record alone, and rejects once closed', async () => {
    const broker = kafkaBroker({ brokers: ['127.0.0.1:1'], maxRecordBytes: 4 });
    const results = await broker.publish([
      { topic: 'bad topic', headers: {}, body: new Uint8Array(1) },
      { topic: 'ok', headers: {}, body: new Uint8Array(5) },
    ]);
    assert.deepEqual(
      results.map((r) => (r.ok ? 'ok' : (r.error as unknown as { code: string }).code)),
      ['ERR_BROKER_REJECTED', 'ERR_BROKER_REJECTED'],
    );
    await broker.close();
    await assert.rejects(broker.publish([{ topic: 'ok', headers: {}, body: new Uint8Array(1) }]), {
      code: 'ERR_CLOSED',
    });
  });
});
