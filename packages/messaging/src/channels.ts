import diagnostics from 'node:diagnostics_channel';
import type { CallContext, TypedChannel } from '@meshkit/core';
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

/**
 * One event published and confirmed: the same object goes out on `publish-start` before it is encoded
 * and on `publish-end` once the broker confirmed or refused it. A start subscriber may add `metadata`
 * (a publish span's `traceparent`), which the event's headers carry over the context's.
 */
export interface PublishEvent {
  readonly topic: string;
  /** The publisher's context, if the caller passed one. */
  readonly ctx: CallContext | undefined;
  /** Metadata a start subscriber adds (`traceparent`, `tracestate`). */
  readonly metadata: Record<string, string>;
  /** The CloudEvents id, set on end when it was encoded. */
  id?: string;
  /** From start to the broker's confirm (or refusal), ms; set on end. */
  durationMs: number;
  /** Why it was not accepted; set on end. */
  error?: unknown;
}

/**
 * One delivery handled: the same object goes out on `process-start` before the handler runs and on
 * `process-end` with the settlement. A start subscriber may replace `metadata` entries (a process span's
 * `traceparent`), which the handler's context carries to the calls and events it makes.
 */
export interface ProcessEvent {
  readonly group: string;
  readonly topic: string;
  readonly id: string;
  /** 1 for the first delivery of the event to this group's handler, more after retries. */
  readonly attempt: number;
  /** How often the broker delivered this record (above 1: a redelivery), when the broker counts. */
  readonly deliveryCount: number | undefined;
  /** The handler context's trace metadata; a start subscriber may replace entries. */
  readonly metadata: Record<string, string>;
  durationMs: number;
  /** How the handler settled it: `ack`, `retry`, `dead-letter` or `release`; set on end. */
  settlement?: string;
  /** What the handler threw or settled with, if anything; set on end. */
  error?: unknown;
}

/** What an outbox relay round found waiting: a gauge of the backlog, up to the relay's batch size. */
export interface OutboxBacklogEvent {
  readonly owner: string;
  /** Unsent rows read this round (at most the relay's `batchSize`). */
  readonly pending: number;
  /** Age of the oldest unsent row, ms; 0 when none waits. */
  readonly oldestAgeMs: number;
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
  publishStart: channel<PublishEvent>('meshkit:messaging:publish-start'),
  publishEnd: channel<PublishEvent>('meshkit:messaging:publish-end'),
  processStart: channel<ProcessEvent>('meshkit:messaging:process-start'),
  processEnd: channel<ProcessEvent>('meshkit:messaging:process-end'),
  outboxBacklog: channel<OutboxBacklogEvent>('meshkit:messaging:outbox-backlog'),
} as const;
