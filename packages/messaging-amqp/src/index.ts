/**
 * `@meshkit/messaging-amqp`: the RabbitMQ adapter of the messaging Broker port, over amqplib.
 */
export { AmqpBroker, type AmqpBrokerOptions, amqpBroker } from './amqp-broker.ts';
export { type AmqpChannelErrorEvent, type AmqpConnectionEvent, amqpChannels } from './channels.ts';
export type { QueueType } from './topology.ts';
