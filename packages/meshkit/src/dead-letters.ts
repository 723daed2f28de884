import { ErrorCode, InvalidArgumentError, MeshError } from '@meshkit/core';
import { checkString } from '@meshkit/core/internal';
import { type Broker, type BrokerRecord, type Delivery, headerNames } from '@meshkit/messaging';
import type { PendingMessage } from '@meshkit/messaging-sqlite';

/** One dead letter, read from its group without being claimed. */
export interface DeadLetter {
  /** The event id (`ce-id`). */
  readonly id: string;
  /** The broker position. */
  readonly position: string;
  /** Where it was first published (`meshkit-original-topic`). */
  readonly originalTopic: string | undefined;
  readonly key: string | undefined;
  /** Why it was dead-lettered (`handler-failed`, `undecodable`, ...). */
  readonly reason: string | undefined;
  /** The last error's message and code. */
  readonly error: string | undefined;
  readonly errorCode: string | undefined;
  /** Handling attempts made. */
  readonly attempt: string | undefined;
  /** When, RFC 3339. */
  readonly deadLetteredAt: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** The dead letters of one consumer group. */
export interface DeadLetterBox {
  /** The dead-letter topic read (`dead-letter.<group>` unless told). */
  readonly topic: string;
  /** The dead letters waiting, oldest first (at most `limit`, default 1,000). */
  list(limit?: number): DeadLetter[];
  /** One dead letter by event id; rejects with `InvalidArgumentError` when there is none. */
  show(id: string): DeadLetter;
  /**
   * Publishes dead letters again under their original topic (their id kept; the dead-letter headers,
   * attempt count and deadline dropped), then removes them from the dead-letter group, each only once its
   * publish was confirmed. Resolves with the ids replayed.
   *
   * @param timeoutMs how long to wait for the dead letters to be handed over. Defaults to 10,000.
   */
  replay(ids: readonly string[] | 'all', options?: { readonly timeoutMs?: number }): Promise<string[]>;
}

/** A broker that lists what a group has not settled (the embedded SQLite broker does). */
interface Inspectable extends Broker {
  pending(group: string, options?: { readonly limit?: number }): PendingMessage[];
}

const droppedOnReplay = new Set<string>([
  headerNames.deadLetterReason,
  headerNames.error,
  headerNames.errorCode,
  headerNames.originalTopic,
  headerNames.deadLetteredAt,
  headerNames.attempt,
  headerNames.deadline,
]);

/**
 * The dead letters of consumer group `group` on `broker`, for tools (`meshkit events dlq`). Needs a
 * broker that can list a group without consuming it (the embedded SQLite broker); others are refused
 * with an `InvalidArgumentError` saying the broker does not support it.
 *
 * @param options.topic the group's dead-letter topic. Defaults to `dead-letter.<group>`.
 */
export function deadLetters(
  broker: Broker,
  group: string,
  options: { readonly topic?: string } = {},
): DeadLetterBox {
  checkString('deadLetters.group', group);
  const topic = options.topic ?? `dead-letter.${group}`;
  checkString('deadLetters.topic', topic);
  if (typeof (broker as Partial<Inspectable>).pending !== 'function') {
    throw new InvalidArgumentError(
      'broker',
      `cannot list dead letters: not supported by ${broker.name}${hint(broker.name, group, topic)}`,
    );
  }
  const inspectable = broker as Inspectable;
  const list = (limit = 1_000): DeadLetter[] =>
    inspectable.pending(topic, { limit }).map((m) => deadLetter(m.headers, m.position, m.key, m.body));
  const show = (id: string): DeadLetter => {
    const found = list(Number.MAX_SAFE_INTEGER).find((d) => d.id === id);
    if (found === undefined)
      throw new InvalidArgumentError('id', `names no dead letter of group ${group}`, id);
    return found;
  };

  const replay = async (
    ids: readonly string[] | 'all',
    replayOptions: { readonly timeoutMs?: number } = {},
  ) => {
    const waiting = list(Number.MAX_SAFE_INTEGER);
    const wanted = new Set(ids === 'all' ? waiting.map((d) => d.id) : ids);
    for (const id of wanted) {
      if (!waiting.some((d) => d.id === id)) {
        throw new InvalidArgumentError('id', `names no dead letter of group ${group}`, id);
      }
    }
    if (wanted.size === 0) return [];
    const replayed: string[] = [];
    const failures: unknown[] = [];
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    let settling = 0;
    const check = (): void => {
      if (settling === 0 && replayed.length + failures.length === wanted.size) finish();
    };
    const onDelivery = (delivery: Delivery): void => {
      const id = delivery.headers[headerNames.id] ?? '';
      if (!wanted.has(id)) return; // not asked for: given back when the subscription closes
      settling++;
      republish(broker, delivery)
        .then(
          () => replayed.push(id),
          (error: unknown) => failures.push(error),
        )
        .finally(() => {
          settling--;
          check();
        });
    };
    // Every dead letter is handed over at once (prefetch), so the ones asked for are found in one claim.
    const subscription = await broker.subscribe({
      group: topic,
      patterns: [topic],
      prefetch: waiting.length + 1,
      onDelivery,
    });
    const timeoutMs = replayOptions.timeoutMs ?? 10_000;
    const timer = setTimeout(finish, timeoutMs);
    try {
      await done;
    } finally {
      clearTimeout(timer);
      await subscription.close();
    }
    if (failures.length > 0) throw failures[0];
    if (replayed.length < wanted.size) {
      const missing = [...wanted].filter((id) => !replayed.includes(id));
      throw new MeshError(
        ErrorCode.TIMEOUT,
        `dead letters ${missing.join(', ')} were not handed over within ${timeoutMs} ms (another reader holds them?)`,
        { details: { replayed, missing } },
      );
    }
    return replayed;
  };
  return { topic, list, show, replay };
}

function hint(broker: string, group: string, topic: string): string {
  if (broker === 'amqp') return ` (read the queue ${group}.dlq with RabbitMQ's own tools)`;
  if (broker === 'kafka') return ` (consume the topic ${topic} with a consumer group of your own)`;
  return '';
}

async function republish(broker: Broker, delivery: Delivery): Promise<void> {
  const original = delivery.headers[headerNames.originalTopic];
  if (original === undefined) {
    throw new InvalidArgumentError(headerNames.originalTopic, 'is missing: cannot tell where to replay to');
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(delivery.headers))
    if (!droppedOnReplay.has(name)) headers[name] = value;
  const record: BrokerRecord = { topic: original, key: delivery.key, headers, body: delivery.body };
  const [result] = await broker.publish([record]);
  if (result === undefined || !result.ok) {
    await delivery.release();
    throw result?.error ?? new MeshError(ErrorCode.BROKER_REJECTED, 'the replay was not confirmed');
  }
  await delivery.ack();
}

function deadLetter(
  headers: Readonly<Record<string, string>>,
  position: string,
  key: string | undefined,
  body: Uint8Array,
): DeadLetter {
  return {
    id: headers[headerNames.id] ?? `#${position}`,
    position,
    originalTopic: headers[headerNames.originalTopic],
    key,
    reason: headers[headerNames.deadLetterReason],
    error: headers[headerNames.error],
    errorCode: headers[headerNames.errorCode],
    attempt: headers[headerNames.attempt],
    deadLetteredAt: headers[headerNames.deadLetteredAt],
    headers,
    body,
  };
}
