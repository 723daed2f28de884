import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import type { Delivery } from '@meshkit/messaging';
import { sqliteBroker } from './sqlite-broker.ts';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-pending-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const record = (topic: string, n: number, key?: string) => ({
  topic,
  key,
  headers: { 'ce-id': `id-${n}` },
  body: new TextEncoder().encode(String(n)),
});

it('lists what a group has not settled, without claiming it: in flight, waiting, unread', async () => {
  const broker = sqliteBroker({ path: join(dir, 'a.db') });
  try {
    assert.deepEqual(broker.pending('nobody'), []);
    const held: Delivery[] = [];
    let got!: () => void;
    const gotTwo = new Promise<void>((resolve) => {
      got = resolve;
    });
    const sub = await broker.subscribe({
      group: 'g',
      patterns: ['user.*'],
      prefetch: 2,
      onDelivery: (d) => {
        held.push(d);
        if (held.length === 2) got();
      },
    });
    await broker.publish([
      record('user.a', 1),
      record('order.x', 2),
      record('user.b', 3),
      record('user.c', 4),
    ]);
    await gotTwo;
    await sub.stop();
    await held[1]!.retryLater({ delayMs: 60_000, headers: { 'meshkit-attempt': '2' } });
    // A fifth message, never claimed by the stopped member.
    await broker.publish([record('user.d', 5)]);
    const pending = broker.pending('g');
    assert.deepEqual(
      pending.map((m) => [m.headers['ce-id'], m.topic, m.state, m.deliveries]),
      [
        ['id-1', 'user.a', 'in-flight', 1],
        ['id-3', 'user.b', 'waiting', 0],
        ['id-4', 'user.c', 'unread', 0],
        ['id-5', 'user.d', 'unread', 0],
      ],
    );
    assert.equal(pending[1]!.headers['meshkit-attempt'], '2');
    assert.equal(new TextDecoder().decode(pending[0]!.body), '1');
    assert.deepEqual(
      broker.pending('g', { limit: 3 }).map((m) => m.headers['ce-id']),
      ['id-1', 'id-3', 'id-4'],
    );
    // Listing claimed nothing: the acked message leaves the list, the others stay.
    await held[0]!.ack();
    assert.deepEqual(
      broker.pending('g').map((m) => m.headers['ce-id']),
      ['id-3', 'id-4', 'id-5'],
    );
    await sub.close();
  } finally {
    await broker.close();
  }
  assert.throws(() => broker.pending('g'), { code: 'ERR_CLOSED' });
  const other = sqliteBroker({ path: join(dir, 'b.db') });
  assert.throws(() => other.pending('g', { limit: 0 }), { code: 'ERR_INVALID_ARGUMENT' });
  await other.close();
});

it('lists a group dead letters in their own group, with the error headers', async () => {
  const broker = sqliteBroker({ path: join(dir, 'c.db') });
  try {
    let settled!: () => void;
    const dead = new Promise<void>((resolve) => {
      settled = resolve;
    });
    const sub = await broker.subscribe({
      group: 'g',
      patterns: ['t'],
      prefetch: 1,
      onDelivery: (d) =>
        void d.deadLetter({ topic: 'dead-letter.g', headers: { 'meshkit-error': 'boom' } }).then(settled),
    });
    await broker.publish([record('t', 1, 'k')]);
    await dead;
    await sub.close();
    const [letter, ...rest] = broker.pending('dead-letter.g');
    assert.equal(rest.length, 0);
    assert.equal(letter?.topic, 'dead-letter.g');
    assert.equal(letter?.key, 'k');
    assert.deepEqual(letter?.headers, { 'ce-id': 'id-1', 'meshkit-error': 'boom' });
    assert.equal(letter?.state, 'unread');
  } finally {
    await broker.close();
  }
});

it('deleteGroup removes a group and what it retained; the log can then be trimmed', async () => {
  const broker = sqliteBroker({ path: join(dir, 'd.db'), retentionMs: 0 });
  try {
    const sub = await broker.subscribe({ group: 'tail', patterns: ['#'], prefetch: 1, onDelivery: () => {} });
    await broker.publish([record('a', 1), record('b', 2)]);
    await sub.close();
    assert.equal(broker.pending('tail').length, 2);
    assert.equal(await broker.runRetention(), 0, 'the group keeps its messages');
    await broker.deleteGroup('tail');
    await broker.deleteGroup('never-existed');
    assert.deepEqual(broker.pending('tail'), []);
    assert.equal(await broker.runRetention(), 2);
  } finally {
    await broker.close();
  }
});
