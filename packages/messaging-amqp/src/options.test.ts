import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '@meshkit/core';
import { type AmqpBrokerOptions, amqpBroker } from './amqp-broker.ts';

// Options are checked before any connection is attempted.
describe('amqpBroker options', () => {
  const bad: [AmqpBrokerOptions, string][] = [
    [{ url: 'http://127.0.0.1:5672' }, 'amqpBroker.url'],
    [{ exchange: '' }, 'amqpBroker.exchange'],
    [{ queueType: 'stream' as never }, 'amqpBroker.queueType'],
    [{ deliveryLimit: 0 }, 'amqpBroker.deliveryLimit'],
    [{ maxUnconfirmed: 0 }, 'amqpBroker.maxUnconfirmed'],
    [{ maxMessageBytes: 1.5 }, 'amqpBroker.maxMessageBytes'],
    [{ outageWaitMs: -1 }, 'amqpBroker.outageWaitMs'],
    [{ mandatory: 'yes' as never }, 'amqpBroker.mandatory'],
    [{ heartbeatSeconds: -1 }, 'amqpBroker.heartbeatSeconds'],
    [{ reconnectInitialDelayMs: 500, reconnectMaxDelayMs: 100 }, 'amqpBroker.reconnectMaxDelayMs'],
    [{ connectAttempts: 0 }, 'amqpBroker.connectAttempts'],
  ];
  for (const [options, field] of bad) {
    it(`refuses a bad ${field}`, async () => {
      await assert.rejects(
        amqpBroker({ ...options, url: options.url ?? 'amqp://127.0.0.1:1' }),
        (e: unknown) => e instanceof InvalidArgumentError && e.field === field,
      );
    });
  }
});
