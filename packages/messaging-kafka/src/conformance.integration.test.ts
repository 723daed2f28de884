import { brokerConformance } from '@meshkit/testkit';
import { kafkaBroker } from './kafka-broker.ts';

// Kafka must be reachable (scripts/services/up-kafka.sh): a missing broker fails these tests, never skips.
const brokers = [process.env.MESHKIT_KAFKA_BROKER ?? '127.0.0.1:9092'];

brokerConformance(
  'kafka',
  async () => kafkaBroker({ brokers, maxRecordBytes: 64 * 1024, rebalanceDrainMs: 2_000 }),
  {
    oversizeBytes: 128 * 1024,
    keyOrderAcrossMembers: true,
    timeoutMs: 30_000,
  },
);
