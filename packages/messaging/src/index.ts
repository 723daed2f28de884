/**
 * `@meshkit/messaging`: the Broker port, the publisher and consumer as Services, the CloudEvents
 * envelope, retry and dead-letter, the transactional outbox and the idempotent inbox.
 */
export {
  type Broker,
  type BrokerRecord,
  checkGroupStart,
  type DeadLetterRequest,
  type Delivery,
  type GroupStart,
  type PublishResult,
  type RetryRequest,
  type SubscribeOptions,
  type Subscription,
} from './broker.ts';
export {
  type GroupSkippedRetainedEvent,
  type MessageDeadLetterEvent,
  type MessageRetryEvent,
  messagingChannels,
  type OutboxBacklogEvent,
  type OutboxRelayFailedEvent,
  type ProcessEvent,
  type PublishEvent,
  type SettleFailedEvent,
} from './channels.ts';
export {
  type Codec,
  jsonCodec,
  type StandardSchemaResult,
  type StandardSchemaV1,
  validate,
} from './codec.ts';
export type { BatchHandler, BatchResult } from './consume/batch.ts';
export type { ConsumeRetryOptions } from './consume/retry-dead-letter.ts';
export { type HandlerResult, type Settlement, settle } from './consume/settlement.ts';
export {
  type ConsumeBatchOptions,
  type ConsumeOptions,
  type Consumer,
  consume,
  consumeBatch,
  type Message,
} from './consumer.ts';
export {
  type DeadLetterReason,
  decodeAttributes,
  type EventAttributes,
  encodeAttributes,
  headerNames,
  newEventId,
} from './envelope.ts';
export { type Inbox, inboxLayer, inboxTransaction, inboxTx } from './inbox.ts';
export { KeyScheduler } from './key-scheduler.ts';
export { checkRecord, MemoryBroker, type MemoryBrokerOptions, memoryBroker } from './memory-broker.ts';
export {
  type OutboxEntry,
  type OutboxEvent,
  type OutboxRelay,
  type OutboxRelayOptions,
  type OutboxStore,
  outboxRecord,
  outboxRelay,
  outboxRow,
} from './outbox.ts';
export {
  checkPattern,
  checkTopic,
  compilePattern,
  compilePatterns,
  matchTopic,
  type TopicMatcher,
} from './pattern.ts';
export {
  type Outgoing,
  type Publisher,
  type PublisherOptions,
  type PublishOutcome,
  publisher,
  type Receipt,
} from './publisher.ts';
