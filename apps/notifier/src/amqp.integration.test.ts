import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { publisher } from '@meshkit/messaging';
import { amqpBroker } from '@meshkit/messaging-amqp';
import { startNotifier } from './notifier.ts';
import type { Notification } from './store.ts';

// RabbitMQ must be reachable: under CI a missing broker fails this suite, it never skips it. The suite
// works in a vhost of its own, deleted afterwards with everything in it.
const run = promisify(execFile);
const base = new URL(process.env.MESHKIT_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const vhost = `meshkit-notifier-${randomUUID().slice(0, 8)}`;
const url = new URL(base);
url.pathname = `/${encodeURIComponent(vhost)}`;

describe('notifier on RabbitMQ', () => {
  before(async () => {
    await run('rabbitmqctl', ['add_vhost', vhost], { timeout: 120_000 });
    await run(
      'rabbitmqctl',
      ['set_permissions', '-p', vhost, decodeURIComponent(base.username), '.*', '.*', '.*'],
      {
        timeout: 120_000,
      },
    );
  });
  after(async () => {
    await run('rabbitmqctl', ['delete_vhost', vhost], { timeout: 120_000 });
  });

  it('consumes user.* from the events exchange in group notifications, once per event id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-notifier-amqp-'));
    const broker = await amqpBroker({ url: url.toString() });
    const waiting = new Map<string, (n: Notification) => void>();
    const recorded = (id: string) => new Promise<Notification>((resolve) => waiting.set(id, resolve));
    try {
      const notifier = await startNotifier({
        broker,
        dataDir: dir,
        onRecorded: (n) => waiting.get(n.eventId)?.(n),
        shutdown: { signals: false, exit: false },
      });
      const events = publisher(broker, { source: '/user-service' });
      const data = (type: string) => ({ user_id: 'r1', type, email: 'r1@example.com', name: 'Rae' });
      const created = recorded('amqp-1');
      const deleted = recorded('amqp-2');
      await events.publish('user.created', data('USER_CREATED'), { key: 'r1', id: 'amqp-1' });
      await events.publish('user.created', data('USER_CREATED'), { key: 'r1', id: 'amqp-1' });
      await events.publish('user.deleted', data('USER_DELETED'), { key: 'r1', id: 'amqp-2' });
      await Promise.all([created, deleted]);
      const listed = await notifier.store.list({ userId: 'r1', limit: 10 });
      assert.deepEqual(listed.map((n) => n.eventId).sort(), ['amqp-1', 'amqp-2']);
      await notifier.close();
    } finally {
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
