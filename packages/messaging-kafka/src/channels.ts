import diagnostics from 'node:diagnostics_channel';
import type { TypedChannel } from '@meshkit/core';

/** Kafka adapter events on `node:diagnostics_channel` (names `meshkit:kafka:*`). */

/** A member's partitions after a (re)join, as `topic:partition`. */
export interface KafkaAssignedEvent {
  readonly group: string;
  readonly partitions: readonly string[];
}
/** The consumer hit an error it recovers from (fetch, topic refresh); the client retries. */
export interface KafkaConsumerErrorEvent {
  readonly group: string;
  readonly error: unknown;
}
/** Records a group has not consumed yet, per `topic:partition` (from {@link KafkaBroker.lag}). */
export interface KafkaLagEvent {
  readonly group: string;
  readonly lag: Readonly<Record<string, number>>;
}

/**
 * A subscription lost its Kafka consumer (the client gave up: the broker stayed away longer than its
 * retries) and opens a new one: `lost` once, then `reopen-scheduled` before each attempt (with the
 * attempt, 1-based, the delay before it, and the previous attempt's error), then `reopened` when the new
 * consumer has joined the group again.
 */
export interface KafkaReopenEvent {
  readonly group: string;
  readonly state: 'lost' | 'reopen-scheduled' | 'reopened';
  readonly attempt: number;
  /** Delay before this attempt, ms (`reopen-scheduled`). */
  readonly delayMs?: number;
  readonly error?: unknown;
}

function channel<T>(name: string): TypedChannel<T> {
  return diagnostics.channel(name) as unknown as TypedChannel<T>;
}

/** The adapter's channels. */
export const kafkaChannels = {
  assigned: channel<KafkaAssignedEvent>('meshkit:kafka:assigned'),
  consumerError: channel<KafkaConsumerErrorEvent>('meshkit:kafka:consumer-error'),
  lag: channel<KafkaLagEvent>('meshkit:kafka:lag'),
  reopen: channel<KafkaReopenEvent>('meshkit:kafka:reopen'),
} as const;
