/**
 * The notifier of the reference system: consumes `user.*` in group `notifications` through the
 * idempotent inbox, records the notification it would send for each event (once per event id), and
 * serves them over REST as `notifier`.
 */
import { join } from 'node:path';
import { type Clock, InvalidArgumentError, type Layer, systemClock } from '@meshkit/core';
import type { Registry } from '@meshkit/discovery';
import { httpServer, type ShutdownOptions } from '@meshkit/http';
import {
  type Broker,
  type ConsumeRetryOptions,
  type Consumer,
  consume,
  type HandlerResult,
  inboxLayer,
  inboxTx,
  type Message,
} from '@meshkit/messaging';
import { withMetrics } from 'meshkit';
import type { Registry as PromRegistry } from 'prom-client';
import { notificationsApi } from './notifications-api.ts';
import { renderMessage } from './render.ts';
import { sqliteNotificationStore } from './sqlite-store.ts';
import type { Notification, NotificationStore } from './store.ts';
import { type UserEvent, userEventSchema } from './user-event.ts';

/** Options of {@link startNotifier}. */
export interface NotifierOptions {
  /** Where user events come from (the embedded SQLite broker, RabbitMQ or Kafka). */
  readonly broker: Broker;
  /** Where notifications are recorded. Defaults to SQLite at `<dataDir>/notifier.db`. */
  readonly store?: NotificationStore;
  /** The folder of the default store. Defaults to `.meshkit`. */
  readonly dataDir?: string;
  /** Registers the REST service as `notifier` here. Defaults to none. */
  readonly registry?: Registry;
  /** Port of the REST service; 0 picks one. Defaults to 0. */
  readonly port?: number;
  /** Interface to listen on. Defaults to `127.0.0.1`. */
  readonly host?: string;
  /** The address registered for callers (required in the registry when listening on 0.0.0.0). */
  readonly advertisedAddress?: string;
  /**
   * What to consume: topics or AMQP-style patterns. Defaults to `user.*` (the `events` exchange's keys);
   * on Kafka the seed's topic is `user-events`, with the type in the data.
   */
  readonly topics?: readonly string[];
  /** Consumer group. Defaults to `notifications`. */
  readonly group?: string;
  /** Events handled at once (events of one user never overlap). Defaults to 4. */
  readonly concurrency?: number;
  /** Retries of a failed event (a store that is down or locked). Defaults to the consumer's: 5 attempts, backoff from 1 s. */
  readonly retry?: ConsumeRetryOptions;
  /** How long stopping waits for events being handled, ms. Defaults to 10,000. */
  readonly stopTimeoutMs?: number;
  /** Your own layers around each event's handling, outside the inbox transaction. Defaults to none. */
  readonly layers?: readonly Layer<Message<UserEvent>, HandlerResult>[];
  /** Called once a notification is committed (never for a duplicate). */
  readonly onRecorded?: (notification: Notification) => void;
  /** `limit` of a listing without one. Defaults to 20. */
  readonly defaultListLimit?: number;
  /** The largest `limit` of a listing. Defaults to 100. */
  readonly maxListLimit?: number;
  /** Metrics to answer `GET /metrics` with (`mesh.telemetry.metrics?.registry`). Defaults to none. */
  readonly metrics?: PromRegistry;
  /** Graceful shutdown of the REST service (the consumer stops after it drains). */
  readonly shutdown?: ShutdownOptions;
  readonly clock?: Clock;
}

/** A running notifier. */
export interface Notifier {
  readonly url: string;
  readonly address: { readonly host: string; readonly port: number };
  readonly consumer: Consumer;
  readonly store: NotificationStore;
  describe(): Record<string, unknown>;
  /**
   * Stops in order: deregisters and drains the REST service, stops the consumer (events being handled
   * finish, up to `stopTimeoutMs`; nothing else starts), closes the store. Idempotent.
   */
  close(): Promise<void>;
}

function positive(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new InvalidArgumentError(field, 'must be an integer >= 1', value);
  return value;
}

/** The notification for an event, at `nowMs`. */
export function notificationOf(msg: Message<UserEvent>, nowMs: number): Notification {
  const event = msg.data;
  const at = event.timestamp === undefined ? msg.time : new Date(event.timestamp);
  const occurred = new Date(at);
  return {
    eventId: msg.id,
    userId: event.user_id,
    type: event.type,
    email: event.email,
    message: renderMessage(event),
    occurredAt: Number.isNaN(occurred.getTime()) ? msg.time : occurred.toISOString(),
    recordedAt: new Date(nowMs).toISOString(),
  };
}

/**
 * Starts the notifier: the consumer (group `notifications`, topics `user.*`) and the REST service.
 *
 * Each event's data is checked first: malformed data or an unknown `type` goes to the dead-letter topic
 * (`dead-letter.notifications`) at once, with the reason, and is never retried. A valid event is
 * recorded inside the inbox transaction, so a redelivered or re-published event (same id) changes
 * nothing; a failing store (down, locked) fails the attempt, which the consumer retries with backoff
 * and dead-letters after the last attempt.
 *
 * @example
 * ```ts
 * import { sqliteBroker } from '@meshkit/messaging-sqlite';
 * const notifier = await startNotifier({ broker: sqliteBroker({ path: '.meshkit/events.db' }), port: 8081 });
 * // curl 'localhost:8081/notifications?user_id=42&limit=5'
 * await notifier.close();
 * ```
 */
export async function startNotifier(options: NotifierOptions): Promise<Notifier> {
  if (typeof options?.broker?.subscribe !== 'function') {
    throw new InvalidArgumentError('startNotifier.broker', 'must be a Broker', options?.broker);
  }
  const clock = options.clock ?? systemClock;
  const group = options.group ?? 'notifications';
  const defaultLimit = positive('startNotifier.defaultListLimit', options.defaultListLimit ?? 20);
  const maxLimit = positive('startNotifier.maxListLimit', options.maxListLimit ?? 100);
  const store =
    options.store ??
    sqliteNotificationStore({
      path: join(options.dataDir ?? '.meshkit', 'notifier.db'),
      consumer: group,
      clock,
    });

  // Which notifications the inbox committed, by message, for onRecorded after the commit.
  const committed = new WeakMap<Message<UserEvent>, Notification>();
  const announce: Layer<Message<UserEvent>, HandlerResult> = {
    name: 'announce-recorded',
    wrap: (next) => async (msg, ctx) => {
      const result = await next(msg, ctx);
      const notification = committed.get(msg);
      if (notification !== undefined) options.onRecorded?.(notification);
      return result;
    },
  };

  let consumer: Consumer | undefined;
  const server = httpServer({
    service: 'notifier',
    ...(options.registry === undefined ? {} : { registry: options.registry }),
    instance: options.advertisedAddress === undefined ? {} : { address: options.advertisedAddress },
    checks: { store: () => store.ping() },
    shutdown: {
      ...options.shutdown,
      onClose: async () => {
        await consumer?.stop();
        await store.close();
        await options.shutdown?.onClose?.();
      },
    },
    clock,
    handler:
      options.metrics === undefined
        ? notificationsApi(store, { defaultLimit, maxLimit })
        : withMetrics(notificationsApi(store, { defaultLimit, maxLimit }), options.metrics),
  });

  try {
    consumer = await consume<UserEvent>(options.broker, {
      group,
      patterns: options.topics ?? ['user.*'],
      schema: userEventSchema,
      concurrency: options.concurrency ?? 4,
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      ...(options.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: options.stopTimeoutMs }),
      clock,
      layers: [announce, ...(options.layers ?? []), inboxLayer(store.inbox)],
      handler: async (msg, ctx) => {
        const notification = notificationOf(msg, clock.now());
        await store.record(inboxTx(ctx), notification);
        committed.set(msg, notification);
      },
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  let address: { host: string; port: number };
  try {
    address = await server.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  } catch (error) {
    await consumer.stop();
    await store.close();
    throw error;
  }
  const running = consumer;
  return {
    url: `http://${options.advertisedAddress ?? address.host}:${address.port}`,
    address,
    consumer: running,
    store,
    describe: () => ({ store: store.kind, group, consumer: running.describe(), inFlight: server.inFlight }),
    close: () => server.shutdown(),
  };
}
