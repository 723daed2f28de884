import { typedChannel } from '@meshkit/core';
import { messagingChannels } from '@meshkit/messaging';
import { type MetricContext, seconds } from './metric-context.ts';
import { counter, gauge, histogram } from './metric-families.ts';
import { outcomeOf } from './outcome.ts';

/** Kafka's lag report (`meshkit:kafka:lag` from `@meshkit/messaging-kafka`), read by its channel name. */
interface LagReport {
  readonly group: string;
  readonly lag: Readonly<Record<string, number>>;
}

/**
 * Messaging: publish-to-confirm latency and outcomes, consumed messages and handler latency by
 * settlement, retries, redeliveries, dead letters, consumer lag where the broker reports it, and the
 * outbox backlog.
 */
export function messagingMetrics({ registry, subs, cap }: MetricContext): void {
  // Messaging.
  const publishDuration = histogram(
    registry,
    'messaging_client_operation_duration_seconds',
    'Publish to broker confirm, per event.',
    ['messaging_operation_name', 'messaging_destination_name', 'outcome'],
  );
  const sent = counter(registry, 'messaging_client_sent_messages_total', 'Events published, by outcome.', [
    'messaging_destination_name',
    'outcome',
  ]);
  const consumed = counter(
    registry,
    'messaging_client_consumed_messages_total',
    'Deliveries handled, by settlement.',
    ['messaging_destination_name', 'messaging_consumer_group_name', 'settlement'],
  );
  const processDuration = histogram(
    registry,
    'messaging_process_duration_seconds',
    'Handler time per delivery, retry and dead-letter decisions included.',
    ['messaging_destination_name', 'messaging_consumer_group_name', 'settlement'],
  );
  const redeliveries = counter(
    registry,
    'meshkit_messaging_redeliveries_total',
    'Deliveries the broker made again (delivery count above 1).',
    ['messaging_destination_name', 'messaging_consumer_group_name'],
  );
  const retries = counter(
    registry,
    'meshkit_messaging_retries_total',
    'Delayed retries a consumer scheduled.',
    ['messaging_destination_name', 'messaging_consumer_group_name'],
  );
  const deadLetters = counter(
    registry,
    'meshkit_messaging_dead_letters_total',
    'Messages sent to the dead-letter topic, by reason.',
    ['messaging_destination_name', 'messaging_consumer_group_name', 'reason'],
  );
  const lag = gauge(
    registry,
    'messaging_consumer_lag',
    'Records a group has not consumed yet, per partition, where the broker reports it.',
    ['messaging_consumer_group_name', 'messaging_destination_partition_id'],
  );
  const backlog = gauge(
    registry,
    'meshkit_outbox_backlog',
    'Unsent outbox rows the relay saw in its last round (up to its batch size).',
    ['owner'],
  );
  const oldest = gauge(
    registry,
    'meshkit_outbox_oldest_age_seconds',
    "Age of the oldest unsent outbox row in the relay's last round.",
    ['owner'],
  );

  subs.on(messagingChannels.publishEnd, (e) => {
    const destination = cap('destination', e.topic);
    const outcome = outcomeOf(e.error);
    publishDuration.observe(
      { messaging_operation_name: 'publish', messaging_destination_name: destination, outcome },
      seconds(e.durationMs),
    );
    sent.inc({ messaging_destination_name: destination, outcome });
  });
  subs.on(messagingChannels.processEnd, (e) => {
    const labels = {
      messaging_destination_name: cap('destination', e.topic),
      messaging_consumer_group_name: cap('group', e.group),
    };
    const settlement = e.settlement ?? 'error';
    consumed.inc({ ...labels, settlement });
    processDuration.observe({ ...labels, settlement }, seconds(e.durationMs));
    if (e.deliveryCount !== undefined && e.deliveryCount > 1) redeliveries.inc(labels);
  });
  subs.on(messagingChannels.retry, (e) => {
    retries.inc({
      messaging_destination_name: cap('destination', e.topic),
      messaging_consumer_group_name: cap('group', e.group),
    });
  });
  subs.on(messagingChannels.deadLetter, (e) => {
    deadLetters.inc({
      messaging_destination_name: cap('destination', e.topic),
      messaging_consumer_group_name: cap('group', e.group),
      reason: e.reason,
    });
  });
  subs.on(typedChannel<LagReport>('meshkit:kafka:lag'), (e) => {
    const group = cap('group', e.group);
    for (const [partition, records] of Object.entries(e.lag)) {
      lag.set(
        {
          messaging_consumer_group_name: group,
          messaging_destination_partition_id: cap('partition', partition),
        },
        records,
      );
    }
  });
  subs.on(messagingChannels.outboxBacklog, (e) => {
    const owner = cap('owner', e.owner);
    backlog.set({ owner }, e.pending);
    oldest.set({ owner }, seconds(e.oldestAgeMs));
  });
}
