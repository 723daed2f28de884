import { after, before } from 'node:test';
import { brokerConformance } from '@meshkit/testkit';
import { amqpBroker } from './amqp-broker.ts';
import { type TestVhost, testVhost } from './test-support/rabbit.ts';

// The suite every adapter passes, against the machine's RabbitMQ, in a vhost of its own.
let vhost: TestVhost;
before(async () => {
  vhost = await testVhost('conformance');
});
after(async () => {
  await vhost.remove();
});

brokerConformance('amqp', async () => amqpBroker({ url: vhost.url, maxMessageBytes: 1_024 }), {
  oversizeBytes: 2_048,
});

// The same suite with quorum work queues (replicated, delivery counts, x-delivery-limit).
brokerConformance(
  'amqp (quorum queues)',
  async () => amqpBroker({ url: vhost.url, maxMessageBytes: 1_024, queueType: 'quorum' }),
  { oversizeBytes: 2_048 },
);
