import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContext } from '@meshkit/core';
import { memoryBroker, publisher } from '@meshkit/messaging';
import { isUserError } from './errors.ts';
import { eventHub } from './event-hub.ts';
import type { UserEventData } from './events.ts';
import { eventually } from './test-support/harness.ts';

const event = (userId: string, timestamp = Date.now()): UserEventData => ({
  id: userId,
  user_id: userId,
  type: 'USER_UPDATED',
  email: `${userId}@example.com`,
  name: userId,
  status: 'ACTIVE',
  timestamp,
});

async function setup(maxBufferedEvents = 4) {
  const broker = memoryBroker();
  const hub = eventHub({ broker, group: 'stream.test', patterns: ['user.*'], maxBufferedEvents });
  await hub.start();
  const events = publisher(broker, { source: '/test' });
  const publish = (...ids: string[]) =>
    events.publishBatch(ids.map((id) => ({ topic: 'user.updated', data: event(id), key: id })));
  return { broker, hub, publish };
}

describe('event hub', () => {
  it('hands each follower the events it asked for, in order', async () => {
    const { hub, publish, broker } = await setup(16);
    const controller = new AbortController();
    const ctx = createContext({ signal: controller.signal });
    const all = hub.follow(undefined, ctx)[Symbol.asyncIterator]();
    const onlyB = hub.follow('b', ctx)[Symbol.asyncIterator]();
    const [firstAll, firstB] = [all.next(), onlyB.next()];
    await eventually(() => hub.followers === 2);
    await publish('a', 'b', 'c', 'b');
    assert.equal((await firstAll).value?.user_id, 'a');
    assert.deepEqual(
      [
        (await all.next()).value?.user_id,
        (await all.next()).value?.user_id,
        (await all.next()).value?.user_id,
      ],
      ['b', 'c', 'b'],
    );
    assert.equal((await firstB).value?.user_id, 'b');
    assert.equal((await onlyB.next()).value?.user_id, 'b');
    // Cancelling ends waiting iterations and removes the followers.
    const pending = [all.next(), onlyB.next()];
    controller.abort();
    assert.deepEqual(
      (await Promise.all(pending)).map((r) => r.done),
      [true, true],
    );
    assert.equal(hub.followers, 0);
    await hub.close();
    await broker.close();
  });

  it('drops a follower that falls behind, keeping its memory bounded, and serves the others', async () => {
    const { hub, publish, broker } = await setup(4);
    const ctx = createContext();
    const slow = hub.follow(undefined, ctx)[Symbol.asyncIterator]();
    const fast = hub.follow(undefined, ctx)[Symbol.asyncIterator]();
    const [slowFirst, fastFirst] = [slow.next(), fast.next()];
    await eventually(() => hub.followers === 2);
    await publish('e0');
    assert.equal((await slowFirst).value?.user_id, 'e0');
    assert.equal((await fastFirst).value?.user_id, 'e0');
    const seen: string[] = [];
    for (let i = 1; i <= 10; i++) {
      await publish(`e${i}`);
      seen.push((await fast.next()).value?.user_id ?? '');
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 10 }, (_, i) => `e${i + 1}`),
    );
    assert.equal(hub.followers, 1, 'the slow follower was dropped');
    // It still gets what was buffered (4 events), then the error.
    const buffered: string[] = [];
    const error = await (async () => {
      for (;;) {
        const next = await slow.next();
        if (next.done === true) return undefined;
        buffered.push(next.value.user_id);
      }
    })().catch((e: unknown) => e);
    assert.deepEqual(buffered, ['e1', 'e2', 'e3', 'e4']);
    assert.ok(isUserError(error) && error.kind === 'resource-exhausted', String(error));
    await hub.close();
    await broker.close();
  });

  it('ends every follower with unavailable on close, and refuses new ones', async () => {
    const { hub, broker } = await setup();
    const follower = hub.follow(undefined, createContext())[Symbol.asyncIterator]();
    const next = follower.next();
    await eventually(() => hub.followers === 1);
    await hub.close();
    await assert.rejects(next, (e: unknown) => isUserError(e) && e.kind === 'unavailable');
    await assert.rejects(
      hub.follow(undefined, createContext())[Symbol.asyncIterator]().next(),
      (e: unknown) => isUserError(e) && e.kind === 'unavailable',
    );
    await broker.close();
  });

  it('skips events from before it started (a resumed group)', async () => {
    const { hub, broker } = await setup();
    const events = publisher(broker, { source: '/test' });
    const follower = hub.follow(undefined, createContext())[Symbol.asyncIterator]();
    const next = follower.next();
    await eventually(() => hub.followers === 1);
    await events.publish('user.updated', event('old', 0), { key: 'old' });
    await events.publish('user.updated', event('new'), { key: 'new' });
    assert.equal((await next).value?.user_id, 'new');
    await hub.close();
    await broker.close();
  });

  it('checks its options', () => {
    const broker = memoryBroker();
    assert.throws(() => eventHub({ broker, group: '', patterns: ['user.*'] }), /group/);
    assert.throws(() => eventHub({ broker, group: 'g', patterns: [] }), /patterns/);
    assert.throws(
      () => eventHub({ broker, group: 'g', patterns: ['user.*'], maxBufferedEvents: 0 }),
      /maxBufferedEvents/,
    );
  });
});
