import type { Channel, Options } from 'amqplib';

/**
 * Names and arguments of what the adapter declares. Per consumer group `<group>`:
 * - `<group>`: the durable work queue, bound to the exchange with the group's patterns;
 * - `<group>.retry.<ms>`: durable delay queues, one per delay step, whose message TTL dead-letters
 *   expired messages through the default exchange back to `<group>` (no delayed-message plugin);
 * - `<group>.dlq`: the durable dead-letter queue, bound to the group's dead-letter topic.
 */

/** How a group's work queue is stored. */
export type QueueType = 'classic' | 'quorum';

/** The dead-letter queue of a group. */
export function deadLetterQueue(group: string): string {
  return `${group}.dlq`;
}

/**
 * Delays are rounded to the nearest quarter power of two (within 9 %), so a jittered backoff uses a
 * few dozen delay queues at most instead of one per distinct delay. 0 stays 0 (straight back).
 */
export function delayStep(delayMs: number): number {
  if (!(delayMs >= 1)) return 0;
  return Math.max(1, Math.round(2 ** (Math.round(Math.log2(delayMs) * 4) / 4)));
}

/** The delay queue of a group for a (stepped) delay. */
export function retryQueue(group: string, stepMs: number): string {
  return `${group}.retry.${stepMs}`;
}

/**
 * An unused delay queue is deleted this long after its last declaration; the adapter declares again
 * before each use when its last declaration is older than half of it, so no queue expires with
 * messages in it (they all expire after the step, far sooner).
 */
export const retryQueueIdleMs = 10 * 60_000;

/** Declares a delay queue whose messages go back to the group's work queue after `stepMs`. */
export async function declareRetryQueue(channel: Channel, group: string, stepMs: number): Promise<void> {
  await channel.assertQueue(retryQueue(group, stepMs), {
    durable: true,
    messageTtl: stepMs,
    deadLetterExchange: '',
    deadLetterRoutingKey: group,
    expires: stepMs + retryQueueIdleMs,
  });
}

/** The arguments of a group's work queue. */
export function workQueueOptions(type: QueueType, deliveryLimit: number, group: string): Options.AssertQueue {
  if (type === 'classic') return { durable: true };
  // A quorum queue counts deliveries itself: past the limit it dead-letters the message into the DLQ,
  // a second safety net behind the consumer's own delivery limit.
  return {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': deliveryLimit,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': deadLetterQueue(group),
    },
  };
}

/** Declares a group's work queue, its bindings and its dead-letter queue. */
export async function declareGroup(
  channel: Channel,
  exchange: string,
  group: string,
  patterns: readonly string[],
  deadLetterTopic: string,
  queue: Options.AssertQueue,
): Promise<void> {
  await channel.assertQueue(deadLetterQueue(group), { durable: true });
  await channel.bindQueue(deadLetterQueue(group), exchange, deadLetterTopic);
  await channel.assertQueue(group, queue);
  for (const pattern of patterns) await channel.bindQueue(group, exchange, pattern);
}
