/**
 * @meshkit/messaging-kafka: the meshkit {@link Broker} port over Apache Kafka (`@platformatic/kafka`).
 * @packageDocumentation
 */
// First: on a too-old Node, one line saying which version is needed, before any dependency loads.
import './node-floor.ts';

export {
  type KafkaAssignedEvent,
  type KafkaConsumerErrorEvent,
  type KafkaLagEvent,
  type KafkaReopenEvent,
  kafkaChannels,
} from './channels.ts';
export { KafkaBroker, kafkaBroker } from './kafka-broker.ts';
export type { KafkaBrokerOptions, KafkaCompression } from './options.ts';
