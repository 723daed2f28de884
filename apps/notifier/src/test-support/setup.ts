/** A notifier on a temporary embedded broker and SQLite store, and a publisher playing user-service. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publisher } from '@meshkit/messaging';
import { sqliteBroker } from '@meshkit/messaging-sqlite';
import { type Notifier, type NotifierOptions, startNotifier } from '../notifier.ts';
import type { Notification } from '../store.ts';

export interface Setup {
  readonly dir: string;
  readonly broker: ReturnType<typeof sqliteBroker>;
  readonly events: ReturnType<typeof publisher>;
  /** Starts a notifier on this setup's broker and store file; `recorded` resolves per event id. */
  start(options?: Partial<NotifierOptions>): Promise<Notifier>;
  /** Resolves once the notification for `eventId` is committed. */
  recorded(eventId: string): Promise<Notification>;
  /** Publishes a user event as user-service does: topic by type, key = user id. */
  publishUser(
    type: 'USER_CREATED' | 'USER_UPDATED' | 'USER_DELETED',
    userId: string,
    eventId: string,
    extra?: Record<string, unknown>,
  ): Promise<unknown>;
  close(): Promise<void>;
}

const topicOf = { USER_CREATED: 'user.created', USER_UPDATED: 'user.updated', USER_DELETED: 'user.deleted' };

export function setup(): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'meshkit-notifier-'));
  const broker = sqliteBroker({ path: join(dir, 'events.db') });
  const events = publisher(broker, { source: '/user-service' });
  const notifiers: Notifier[] = [];
  const seen = new Map<string, Notification>();
  const waiting = new Map<string, (n: Notification) => void>();
  const onRecorded = (n: Notification): void => {
    seen.set(n.eventId, n);
    waiting.get(n.eventId)?.(n);
  };
  return {
    dir,
    broker,
    events,
    async start(options = {}) {
      const notifier = await startNotifier({
        broker,
        dataDir: dir,
        onRecorded,
        shutdown: { signals: false, exit: false },
        ...options,
      });
      notifiers.push(notifier);
      return notifier;
    },
    recorded(eventId) {
      const done = seen.get(eventId);
      if (done !== undefined) return Promise.resolve(done);
      return new Promise((resolve) => waiting.set(eventId, resolve));
    },
    publishUser(type, userId, eventId, extra = {}) {
      return events.publish(
        topicOf[type],
        {
          id: eventId,
          user_id: userId,
          type,
          email: `${userId}@example.com`,
          name: `User ${userId}`,
          status: 'ACTIVE',
          timestamp: 1_765_000_000_000,
          ...extra,
        },
        { key: userId, id: eventId },
      );
    },
    async close() {
      for (const n of notifiers) await n.close();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
