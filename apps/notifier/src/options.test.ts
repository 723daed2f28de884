import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { memoryBroker } from '@meshkit/messaging';
import { startNotifier } from './notifier.ts';
import { sqliteNotificationStore } from './sqlite-store.ts';
import { userEventSchema } from './user-event.ts';

describe('notifier options and event checks', () => {
  it('names the option at fault', async () => {
    await assert.rejects(startNotifier({} as never), /startNotifier\.broker/);
    await assert.rejects(
      startNotifier({ broker: memoryBroker(), maxListLimit: 0 }),
      /startNotifier\.maxListLimit/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-notifier-options-'));
    try {
      assert.throws(
        () => sqliteNotificationStore({ path: join(dir, 'n.db'), table: 'bad-name' }),
        /sqliteNotificationStore\.table/,
      );
      assert.throws(
        () => sqliteNotificationStore({ path: join(dir, 'n.db'), busyTimeoutMs: -1 }),
        /sqliteNotificationStore\.busyTimeoutMs/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts user-service’s event data and names every field at fault otherwise', async () => {
    const valid = await userEventSchema['~standard'].validate({
      id: 'e1',
      user_id: '42',
      type: 'USER_UPDATED',
      email: 'ada@example.com',
      name: 'Ada',
      status: 'ACTIVE',
      timestamp: '2026-12-06T01:00:00Z',
    });
    assert.equal(valid.issues, undefined);
    const invalid = await userEventSchema['~standard'].validate({
      user_id: 7,
      type: 'USER_GONE',
      email: 'nope',
    });
    assert.deepEqual(
      invalid.issues?.map((i) => i.path?.join('.')),
      ['user_id', 'email', 'type'],
    );
    const notObject = await userEventSchema['~standard'].validate('USER_CREATED');
    assert.equal(notObject.issues?.[0]?.message, 'must be a JSON object');
  });
});
