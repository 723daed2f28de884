import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FakeClock } from '@meshkit/core';
import type { OutboxEntry } from '@meshkit/messaging';
import { isUserError, type UserErrorKind } from '../errors.ts';
import type { UserEventData } from '../events.ts';
import { pageTokens } from '../page-token.ts';
import type { UserStore } from '../store.ts';
import { users } from '../users.ts';

/** Opens another connection to the same database each call; `cleanup` drops the database after all. */
export interface StoreFactory {
  open(): Promise<UserStore>;
  cleanup(): Promise<void>;
}

const key = 'a test key that is long enough';

async function rejectsWith(promise: Promise<unknown>, kind: UserErrorKind, field?: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isUserError(error), `expected a UserError, got ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    if (field !== undefined) assert.equal(error.field, field);
    return true;
  });
}

/** Every pending outbox event, in write order (the relay is not running in these tests). */
async function events(store: UserStore): Promise<OutboxEntry[]> {
  return store.outbox.pending(10_000);
}

/**
 * The user domain's behaviour, run against each store: validation, uniqueness (also under concurrent
 * writes from two connections), pagination with signed tokens, and exactly one outbox event per change,
 * committed with it.
 */
export function userDomainSuite(name: string, factory: StoreFactory): void {
  describe(`user domain on ${name}`, () => {
    const opened: UserStore[] = [];
    const open = async (): Promise<UserStore> => {
      const store = await factory.open();
      opened.push(store);
      return store;
    };
    const domain = async (options: { clock?: FakeClock; store?: UserStore } = {}) => {
      const store = options.store ?? (await open());
      const clock = options.clock ?? new FakeClock();
      return {
        store,
        clock,
        users: users({ store, clock, pageTokens: pageTokens(key), pageSize: { default: 3, max: 5 } }),
      };
    };
    after(async () => {
      for (const store of opened) await store.close();
      await factory.cleanup();
    });

    it('creates, reads, updates and deletes a user, one event per change, in order', async () => {
      const { store, clock, users: u } = await domain();
      const before = (await events(store)).length;
      const ada = await u.create({ email: '  Ada@Example.COM ', name: ' Ada Lovelace ' });
      assert.equal(ada.email, 'ada@example.com');
      assert.equal(ada.name, 'Ada Lovelace');
      assert.equal(ada.status, 'ACTIVE');
      assert.equal(ada.createdAt, clock.now());
      assert.deepEqual(await u.get(ada.id), ada);

      await clock.advance(1_000);
      const suspended = await u.update(ada.id, { status: 'SUSPENDED', name: 'Ada' });
      assert.equal(suspended.status, 'SUSPENDED');
      assert.equal(suspended.name, 'Ada');
      assert.equal(suspended.updatedAt, clock.now());
      assert.equal(suspended.createdAt, ada.createdAt);
      assert.deepEqual(await u.get(ada.id), suspended);

      // The same values again change nothing and emit nothing.
      assert.deepEqual(await u.update(ada.id, { status: 'SUSPENDED' }), suspended);

      await clock.advance(1_000);
      const removed = await u.remove(ada.id);
      assert.equal(removed.id, ada.id);
      await rejectsWith(u.get(ada.id), 'not-found', 'id');

      const mine = (await events(store)).slice(before).filter((e) => e.key === ada.id);
      assert.deepEqual(
        mine.map((e) => e.topic),
        ['user.created', 'user.updated', 'user.deleted'],
      );
      const [created, updated, deleted] = mine.map((e) => e.data as UserEventData);
      assert.deepEqual(created, {
        id: ada.id,
        user_id: ada.id,
        type: 'USER_CREATED',
        email: 'ada@example.com',
        name: 'Ada Lovelace',
        status: 'ACTIVE',
        timestamp: ada.createdAt,
      });
      assert.equal(updated?.type, 'USER_UPDATED');
      assert.equal(updated?.status, 'SUSPENDED');
      assert.equal(updated?.timestamp, ada.createdAt + 1_000);
      assert.equal(deleted?.type, 'USER_DELETED');
      assert.equal(deleted?.timestamp, ada.createdAt + 2_000);
      assert.equal(new Set(mine.map((e) => e.id)).size, 3, 'each event has its own id');
    });

    it('sends every event to one topic when told to (the Kafka topic user-events)', async () => {
      const { store } = await domain();
      const u = users({ store, pageTokens: pageTokens(key), events: { topic: 'user-events' } });
      const before = (await events(store)).length;
      const bob = await u.create({ email: `bob-${Date.now()}@example.com`, name: 'Bob' });
      await u.update(bob.id, { name: 'Robert' });
      const mine = (await events(store)).slice(before);
      assert.deepEqual(
        mine.map((e) => [e.topic, e.key, (e.data as UserEventData).type]),
        [
          ['user-events', bob.id, 'USER_CREATED'],
          ['user-events', bob.id, 'USER_UPDATED'],
        ],
      );
    });

    it('refuses bad input, naming the field, and writes nothing', async () => {
      const { store, users: u } = await domain();
      const before = (await events(store)).length;
      await rejectsWith(u.create({ email: 'not-an-email', name: 'X' }), 'invalid-argument', 'email');
      await rejectsWith(u.create({ email: 'a@b', name: 'X' }), 'invalid-argument', 'email');
      await rejectsWith(u.create({ email: 'a b@example.com', name: 'X' }), 'invalid-argument', 'email');
      await rejectsWith(
        u.create({ email: `${'a'.repeat(250)}@example.com`, name: 'X' }),
        'invalid-argument',
        'email',
      );
      await rejectsWith(u.create({ email: 42, name: 'X' }), 'invalid-argument', 'email');
      await rejectsWith(u.create({ email: 'x@example.com', name: '   ' }), 'invalid-argument', 'name');
      await rejectsWith(
        u.create({ email: 'x@example.com', name: 'n'.repeat(101) }),
        'invalid-argument',
        'name',
      );
      await rejectsWith(u.create({ email: 'x@example.com', name: 'a\u0000b' }), 'invalid-argument', 'name');
      await rejectsWith(
        u.create({ email: 'x@example.com', name: 'X', status: 'UNKNOWN' }),
        'invalid-argument',
        'status',
      );
      await rejectsWith(
        u.create({ email: 'x@example.com', name: 'X', status: 1 }),
        'invalid-argument',
        'status',
      );
      // 100 code points is the limit, whatever their UTF-16 length.
      const long = await u.create({ email: `emoji-${Date.now()}@example.com`, name: '🙂'.repeat(100) });
      assert.equal([...long.name].length, 100);
      await rejectsWith(u.update(long.id, { email: 'nope' }), 'invalid-argument', 'email');
      await rejectsWith(u.update('', { name: 'x' }), 'invalid-argument', 'id');
      await rejectsWith(u.update('missing', { name: 'x' }), 'not-found', 'id');
      await rejectsWith(u.remove('missing'), 'not-found', 'id');
      assert.equal((await events(store)).length, before + 1, 'only the valid create wrote an event');
    });

    it('keeps e-mail addresses unique, case-insensitively, on create and update, without an event', async () => {
      const { store, users: u } = await domain();
      const email = `dup-${Date.now()}@example.com`;
      const first = await u.create({ email, name: 'First' });
      const other = await u.create({ email: `other-${email}`, name: 'Other' });
      const before = (await events(store)).length;
      await rejectsWith(u.create({ email: email.toUpperCase(), name: 'Second' }), 'already-exists', 'email');
      await rejectsWith(u.update(other.id, { email }), 'already-exists', 'email');
      assert.equal((await events(store)).length, before, 'a refused write leaves no event');
      assert.equal((await u.get(other.id)).email, `other-${email}`);
      assert.equal((await u.get(first.id)).name, 'First');
    });

    it('lets exactly one of many concurrent creates with one address win, across connections', async () => {
      const { users: a } = await domain();
      const { users: b } = await domain();
      const email = `race-${Date.now()}@example.com`;
      const attempts = Array.from({ length: 8 }, (_, i) =>
        (i % 2 === 0 ? a : b).create({ email, name: `R${i}` }),
      );
      const outcomes = await Promise.allSettled(attempts);
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      assert.equal(won.length, 1);
      for (const o of outcomes) {
        if (o.status === 'rejected') assert.ok(isUserError(o.reason) && o.reason.kind === 'already-exists');
      }
    });

    it('pages through every user once, in creation order, with signed tokens', async () => {
      const { store } = await domain();
      // A domain of its own with its own prefix, so users of other tests do not interfere with counts.
      const u = users({
        store,
        clock: new FakeClock(),
        pageTokens: pageTokens(key),
        pageSize: { default: 3, max: 5 },
      });
      const all = [];
      let token = '';
      do {
        const page = await u.list({ pageToken: token });
        assert.ok(page.users.length <= 3);
        all.push(...page.users);
        token = page.nextPageToken;
      } while (token !== '');
      const mine = [];
      for (let i = 0; i < 7; i++)
        mine.push(await u.create({ email: `page-${i}-${Date.now()}@example.com`, name: `P${i}` }));
      const seen = [];
      token = '';
      do {
        const page = await u.list({ pageSize: 2, pageToken: token });
        seen.push(...page.users);
        token = page.nextPageToken;
      } while (token !== '');
      assert.equal(seen.length, all.length + 7);
      assert.equal(new Set(seen.map((x) => x.id)).size, seen.length, 'no user twice');
      const mineIds = new Set(mine.map((x) => x.id));
      assert.deepEqual(
        seen.filter((x) => mineIds.has(x.id)).map((x) => x.id),
        mine.map((x) => x.id),
        'in creation order',
      );
      // Above the maximum is served the maximum; 0 is the default.
      assert.equal((await u.list({ pageSize: 1_000 })).users.length, Math.min(5, seen.length));
      assert.equal((await u.list({ pageSize: 0 })).users.length, Math.min(3, seen.length));
      await rejectsWith(u.list({ pageSize: -1 }), 'invalid-argument', 'page_size');
      await rejectsWith(u.list({ pageSize: 1.5 }), 'invalid-argument', 'page_size');
    });

    it('refuses a tampered or foreign page token', async () => {
      const { users: u } = await domain();
      for (let i = 0; i < 3; i++) await u.create({ email: `tok-${i}-${Date.now()}@example.com`, name: 'T' });
      const { nextPageToken } = await u.list({ pageSize: 1 });
      assert.notEqual(nextPageToken, '');
      const [payload, signature] = nextPageToken.split('.') as [string, string];
      const forged = Buffer.from(JSON.stringify({ v: 'u1', a: '' })).toString('base64url');
      const foreign = pageTokens('another key, also long enough').sign({ afterId: 'x' });
      for (const bad of [
        `${forged}.${signature}`,
        `${payload}.${signature.slice(1)}`,
        `${payload}x.${signature}`,
        foreign,
        'junk',
        '.',
      ]) {
        await rejectsWith(u.list({ pageToken: bad }), 'invalid-argument', 'page_token');
      }
    });

    it('commits a change and its event together: a failed write leaves neither', async () => {
      const { store, users: u } = await domain();
      const email = `atomic-${Date.now()}@example.com`;
      const taken = await u.create({ email, name: 'A' });
      const victim = await u.create({ email: `v-${email}`, name: 'V' });
      const before = await events(store);
      await rejectsWith(u.update(victim.id, { email, name: 'Changed' }), 'already-exists');
      assert.equal((await u.get(victim.id)).name, 'V');
      assert.deepEqual(await events(store), before);
      assert.equal((await u.get(taken.id)).email, email);
    });
  });
}
