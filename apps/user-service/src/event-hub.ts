import { type Clock, InvalidArgumentError, systemClock } from '@meshkit/core';
import { checkInteger, checkString } from '@meshkit/core/internal';
import { type Broker, type Consumer, consume } from '@meshkit/messaging';
import { UserError } from './errors.ts';
import { readUserEvent, type UserEventData } from './events.ts';

/** Options of {@link eventHub}. */
export interface EventHubOptions {
  readonly broker: Broker;
  /**
   * This instance's consumer group: every instance needs its own, so each sees every event (from any
   * instance). A new group starts at the newest message.
   */
  readonly group: string;
  /** Topics or patterns of the user events (`user.*`, or the single Kafka topic). */
  readonly patterns: readonly string[];
  /**
   * Events buffered per follower that has not taken them yet. A follower further behind is dropped:
   * it stops receiving at once, and its stream ends with a `resource-exhausted` error after the events
   * already buffered. Defaults to 256.
   */
  readonly maxBufferedEvents?: number;
  /** Reads "now" at start: events older than that (a group resumed from an earlier run) are skipped. */
  readonly clock?: Clock;
}

/** Something that can be cancelled: a `CallContext` is one. */
export interface Cancellation {
  readonly aborted: boolean;
  onAbort(listener: (reason: unknown) => void): () => void;
}

/** Live user events for any number of followers, from one broker subscription. */
export interface EventHub {
  /** Joins the group; events published after this are delivered. */
  start(): Promise<void>;
  /**
   * The events from now on, only those of `userId` when given, until `cancel` fires (the iteration
   * then ends), the follower falls too far behind (`UserError` `resource-exhausted`) or the hub closes
   * (`UserError` `unavailable`).
   */
  follow(userId: string | undefined, cancel: Cancellation): AsyncIterable<UserEventData>;
  /** Followers now. */
  readonly followers: number;
  /** Ends every follower with `unavailable` and leaves the broker. Idempotent. */
  close(): Promise<void>;
}

class Follower {
  readonly userId: string | undefined;
  readonly queue: UserEventData[] = [];
  ended: UserError | undefined;
  #wake: (() => void) | undefined;

  constructor(userId: string | undefined) {
    this.userId = userId;
  }

  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }
}

/**
 * Fans user events out from the broker to live followers (the `StreamUserEvents` streams). Delivery to
 * the hub never waits for a follower: each has a bounded buffer, and one that falls behind is dropped,
 * so a slow client neither holds back the others nor grows memory.
 *
 * @example
 * ```ts
 * import { memoryBroker } from '@meshkit/messaging';
 * import { createContext } from '@meshkit/core';
 * const hub = eventHub({ broker: memoryBroker(), group: 'user-service.stream.host-1', patterns: ['user.*'] });
 * await hub.start();
 * for await (const event of hub.follow(undefined, createContext())) console.log(event.type, event.user_id);
 * ```
 */
export function eventHub(options: EventHubOptions): EventHub {
  const group = checkString('eventHub.group', options.group);
  if (!Array.isArray(options.patterns) || options.patterns.length === 0) {
    throw new InvalidArgumentError(
      'eventHub.patterns',
      'must list at least one topic or pattern',
      options.patterns,
    );
  }
  const maxBuffered = checkInteger('eventHub.maxBufferedEvents', options.maxBufferedEvents ?? 256, 1);
  const clock = options.clock ?? systemClock;
  const followers = new Set<Follower>();
  let consumer: Consumer | undefined;
  let startedAt = Number.POSITIVE_INFINITY;
  let closed = false;

  const deliver = (event: UserEventData): void => {
    for (const follower of followers) {
      if (follower.userId !== undefined && follower.userId !== event.user_id) continue;
      if (follower.queue.length >= maxBuffered) {
        followers.delete(follower);
        follower.ended = new UserError(
          'resource-exhausted',
          `the stream fell more than ${maxBuffered} events behind; subscribe again`,
        );
      } else {
        follower.queue.push(event);
      }
      follower.wake();
    }
  };

  return {
    async start() {
      if (consumer !== undefined || closed) return;
      startedAt = clock.now();
      consumer = await consume(options.broker, {
        group,
        patterns: [...options.patterns],
        // Never retried: a live stream has no use for an event it could not take at once.
        retry: { maxAttempts: 1 },
        handler: async (msg) => {
          const event = readUserEvent(msg.data);
          if (event !== undefined && event.timestamp >= startedAt) deliver(event);
        },
      });
    },

    follow(userId, cancel) {
      return {
        async *[Symbol.asyncIterator]() {
          if (closed) throw new UserError('unavailable', 'the service is shutting down');
          const follower = new Follower(userId);
          followers.add(follower);
          const unhook = cancel.onAbort(() => follower.wake());
          try {
            for (;;) {
              if (cancel.aborted) return;
              const next = follower.queue.shift();
              if (next !== undefined) {
                yield next;
                continue;
              }
              if (follower.ended !== undefined) throw follower.ended;
              await follower.wait();
            }
          } finally {
            followers.delete(follower);
            follower.queue.length = 0;
            unhook();
          }
        },
      };
    },

    get followers() {
      return followers.size;
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const follower of followers) {
        follower.ended = new UserError('unavailable', 'the service is shutting down');
        follower.queue.length = 0;
        follower.wake();
      }
      followers.clear();
      await consumer?.stop();
    },
  };
}
