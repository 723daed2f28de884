import diagnostics from 'node:diagnostics_channel';
import type { TypedChannel } from '@meshkit/core';
import type { DeadLetterReason } from './envelope.ts';

/**
 * Messaging events on `node:diagnostics_channel` (names `meshkit:messaging:*`), for observability.
 * Publishers check `hasSubscribers` first, so unobserved events cost one property read.
 */

/** A consumer scheduled a retry of a failed message. */
export interface MessageRetryEvent {
  readonly group: string;
  readonly topic: string;
  readonly id: string | undefined;
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}
/** A consumer dead-lettered a message. */
export interface MessageDeadLetterEvent {
  readonly group: string;
  readonly topic: string;
  readonly id: string | undefined;
  readonly reason: DeadLetterReason;
  readonly deadLetterTopic: string;
  readonly error: unknown;
}
/** Settling a delivery failed at the broker; the message will be redelivered. */
export interface SettleFailedEvent {
  readonly group: string;
  readonly topic: string;
  readonly error: unknown;
}

/** An outbox relay round failed (store or broker trouble); the relay backs off and tries again. */
export interface OutboxRelayFailedEvent {
  readonly owner: string;
  readonly error: unknown;
}

/**
 * A new consumer group started at `'now'` while the broker still retained messages matching its
 * patterns: those are never delivered to it. Subscribe with `from: 'earliest'` to receive them.
 */
export interface GroupSkippedRetainedEvent {
  readonly broker: string;
  readonly group: string;
  readonly patterns: readonly string[];
  /** Retained messages matching the group's patterns, published before it started. */
  readonly skipped: number;
}

function channel<T>(name: string): TypedChannel<T> {
  return diagnostics.channel(name) as unknown as TypedChannel<T>;
}

/** The messaging channels. */
export const messagingChannels = {
  retry: channel<MessageRetryEvent>('meshkit:messaging:retry'),
  deadLetter: channel<MessageDeadLetterEvent>('meshkit:messaging:dead-letter'),
  settleFailed: channel<SettleFailedEvent>('meshkit:messaging:settle-failed'),
  outboxRelayFailed: channel<OutboxRelayFailedEvent>('meshkit:messaging:outbox-relay-failed'),
  groupSkippedRetained: channel<GroupSkippedRetainedEvent>('meshkit:messaging:group-skipped-retained'),
} as const;
