import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { constantBackoff } from '@meshkit/core';
import { embeddedRegistry } from '@meshkit/discovery';
import {
  consume,
  headerNames,
  type MessageDeadLetterEvent,
  type MessageRetryEvent,
} from '@meshkit/messaging';
import { type Setup, setup } from './test-support/setup.ts';

/** Resolves with the first `count` events published on a diagnostics channel. */
function nextEvents<T>(name: string, count: number): Promise<T[]> {
  const got: T[] = [];
  return new Promise((resolve) => {
    const listener = (event: unknown): void => {
      got.push(event as T);
      if (got.length === count) {
        unsubscribe(name, listener);
        resolve(got);
      }
    };
    subscribe(name, listener);
  });
}

describe('notifier', () => {
  let s: Setup;
  beforeEach(() => {
    s = setup();
  });
  afterEach(async () => {
    await s.close();
  });

  it('records each event once, even when the same event is delivered twice', async (t) => {
    // A second copy must be skipped by the inbox, not fail on the unique event id and be retried.
    const failures: unknown[] = [];
    const onFailure = (e: unknown): void => {
      failures.push(e);
    };
    subscribe('meshkit:messaging:retry', onFailure);
    subscribe('meshkit:messaging:dead-letter', onFailure);
    t.after(() => {
      unsubscribe('meshkit:messaging:retry', onFailure);
      unsubscribe('meshkit:messaging:dead-letter', onFailure);
    });
    const notifier = await s.start();
    await s.publishUser('USER_CREATED', 'u1', 'evt-1');
    await s.publishUser('USER_CREATED', 'u1', 'evt-1'); // the same event again (a re-published outbox row)
    await s.publishUser('USER_UPDATED', 'u1', 'evt-2'); // same key: handled after both copies
    await s.recorded('evt-2');
    const listed = await notifier.store.list({ userId: 'u1', limit: 10 });
    assert.deepEqual(
      listed.map((n) => [n.eventId, n.type]),
      [
        ['evt-2', 'USER_UPDATED'],
        ['evt-1', 'USER_CREATED'],
      ],
    );
    assert.equal(listed[1]!.message, 'Welcome, User u1! Your account u1@example.com is ready.');
    assert.equal(listed[1]!.email, 'u1@example.com');
    assert.equal(listed[1]!.occurredAt, new Date(1_765_000_000_000).toISOString());

    // Delivered again after a restart of the notifier: still one row.
    await notifier.close();
    const restarted = await s.start();
    await s.publishUser('USER_CREATED', 'u1', 'evt-1');
    await s.publishUser('USER_DELETED', 'u1', 'evt-3');
    await s.recorded('evt-3');
    const later = await restarted.store.list({ userId: 'u1', limit: 10 });
    assert.deepEqual(
      later.map((n) => n.eventId),
      ['evt-3', 'evt-2', 'evt-1'],
    );
    assert.deepEqual(failures, []);
  });

  it('dead-letters malformed data and an unknown type at once, with the error, without retrying', async () => {
    await s.start({ retry: { maxAttempts: 5, backoff: constantBackoff(10) } });
    // A group sees what is published after it joined: the reader of dead letters joins first.
    const letters: Record<string, string>[] = [];
    let gotBoth!: () => void;
    const both = new Promise<void>((resolve) => {
      gotBoth = resolve;
    });
    const reader = await consume(s.broker, {
      group: 'dead-letter-reader',
      topics: ['dead-letter.notifications'],
      handler: async (msg) => {
        letters.push(msg.headers);
        if (letters.length === 2) gotBoth();
      },
    });
    const deadLetters = nextEvents<MessageDeadLetterEvent>('meshkit:messaging:dead-letter', 2);
    const retries: MessageRetryEvent[] = [];
    const onRetry = (e: unknown): void => {
      retries.push(e as MessageRetryEvent);
    };
    subscribe('meshkit:messaging:retry', onRetry);
    try {
      await s.events.publish('user.created', { user_id: 'u2' }, { key: 'u2', id: 'bad-1' });
      await s.events.publish(
        'user.suspended',
        { user_id: 'u2', type: 'USER_SUSPENDED', email: 'u2@example.com' },
        { key: 'u2', id: 'bad-2' },
      );
      const dead = await deadLetters;
      assert.deepEqual(
        dead.map((d) => [d.id, d.reason]),
        [
          ['bad-1', 'invalid-payload'],
          ['bad-2', 'invalid-payload'],
        ],
      );
      assert.equal(retries.length, 0);
    } finally {
      unsubscribe('meshkit:messaging:retry', onRetry);
    }

    // What landed on the dead-letter topic carries the error.
    await both;
    await reader.stop();
    const errors = letters.map((h) => h[headerNames.error] ?? '');
    assert.match(errors[0]!, /email: is required/);
    assert.match(errors[0]!, /type: unknown type undefined/);
    assert.match(errors[1]!, /type: unknown type "USER_SUSPENDED"/);
    assert.deepEqual(
      letters.map((h) => h[headerNames.attempt]),
      ['1', '1'],
    );
  });

  it('retries an event whose store is locked, with backoff, then records it', async () => {
    const notifier = await s.start({ retry: { maxAttempts: 5, backoff: constantBackoff(20) } });
    const other = new DatabaseSync(join(s.dir, 'notifier.db'));
    other.exec('BEGIN IMMEDIATE'); // holds the write lock: the notifier's transaction cannot start
    const firstRetry = nextEvents<MessageRetryEvent>('meshkit:messaging:retry', 1);
    try {
      await s.publishUser('USER_CREATED', 'u3', 'evt-locked');
      const [retry] = await firstRetry;
      assert.equal(retry!.id, 'evt-locked');
      assert.equal(retry!.delayMs, 20);
      assert.match(String((retry!.error as Error).message), /locked/);
    } finally {
      other.exec('COMMIT');
      other.close();
    }
    await s.recorded('evt-locked');
    const listed = await notifier.store.list({ userId: 'u3', limit: 10 });
    assert.equal(listed.length, 1);
  });

  it('lists over REST, newest first, filtered by user_id, type and limit, with the total', async () => {
    const registry = embeddedRegistry({ path: join(s.dir, 'registry.db') });
    const notifier = await s.start({ registry, shutdown: { signals: false, exit: false, graceMs: 0 } });
    try {
      const instances = await registry.lookup('notifier');
      assert.equal(instances.length, 1);
      assert.equal(instances[0]!.port, notifier.address.port);

      await s.publishUser('USER_CREATED', 'a', 'a-1');
      await s.publishUser('USER_CREATED', 'b', 'b-1');
      await s.publishUser('USER_UPDATED', 'a', 'a-2');
      await s.publishUser('USER_DELETED', 'a', 'a-3');
      await Promise.all(['a-1', 'b-1', 'a-2', 'a-3'].map((id) => s.recorded(id)));

      const all = (await (await fetch(`${notifier.url}/notifications`)).json()) as {
        notifications: { eventId: string; userId: string; type: string }[];
        total: number;
      };
      assert.equal(all.notifications.length, 4);
      assert.equal(all.total, 4);
      const onlyA = (await (await fetch(`${notifier.url}/notifications?user_id=a`)).json()) as typeof all;
      assert.deepEqual(
        onlyA.notifications.map((n) => n.eventId),
        ['a-3', 'a-2', 'a-1'],
      );
      const limited = (await (
        await fetch(`${notifier.url}/notifications?user_id=a&limit=2`)
      ).json()) as typeof all;
      assert.deepEqual(
        limited.notifications.map((n) => n.eventId),
        ['a-3', 'a-2'],
      );
      assert.equal(limited.total, 3, 'the total counts every match, not only the page');
      const created = (await (
        await fetch(`${notifier.url}/notifications?type=USER_CREATED&limit=1`)
      ).json()) as typeof all;
      assert.equal(created.total, 2);
      assert.deepEqual(
        created.notifications.map((n) => [n.eventId, n.type]),
        [['b-1', 'USER_CREATED']],
      );
      const aUpdated = (await (
        await fetch(`${notifier.url}/notifications?user_id=a&type=USER_UPDATED`)
      ).json()) as typeof all;
      assert.deepEqual(
        aUpdated.notifications.map((n) => n.eventId),
        ['a-2'],
      );
      assert.equal(aUpdated.total, 1);
      const none = (await (await fetch(`${notifier.url}/notifications?user_id=zzz`)).json()) as typeof all;
      assert.deepEqual(none.notifications, []);
      assert.equal(none.total, 0);

      for (const bad of [
        'limit=0',
        'limit=101',
        'limit=two',
        'user_id=',
        'type=',
        'type=user_created',
        'type=DROP',
      ]) {
        const res = await fetch(`${notifier.url}/notifications?${bad}`);
        assert.equal(res.status, 400, bad);
        assert.equal(res.headers.get('content-type'), 'application/problem+json');
      }
      assert.equal((await fetch(`${notifier.url}/elsewhere`)).status, 404);
      assert.equal((await fetch(`${notifier.url}/readyz`)).status, 200);
    } finally {
      await notifier.close();
      assert.equal((await registry.lookup('notifier')).length, 0, 'deregistered on close');
      await registry.close();
    }
  });

  it('finishes the event being handled when stopped, before closing the store', async () => {
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const notifier = await s.start({
      layers: [
        {
          name: 'gate',
          wrap: (next) => async (msg, ctx) => {
            arrived();
            await released;
            return next(msg, ctx);
          },
        },
      ],
    });
    await s.publishUser('USER_CREATED', 'u4', 'evt-in-flight');
    await arrival;
    const closing = notifier.close();
    release();
    await closing;
    const db = new DatabaseSync(join(s.dir, 'notifier.db'));
    try {
      const rows = db.prepare('SELECT event_id FROM notifications').all() as { event_id: string }[];
      assert.deepEqual(
        rows.map((r) => r.event_id),
        ['evt-in-flight'],
      );
    } finally {
      db.close();
    }
  });
});
