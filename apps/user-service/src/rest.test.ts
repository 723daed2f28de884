import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningUserService } from './service.ts';
import { type Host, observer, testHost } from './test-support/harness.ts';

let host: Host;
let service: RunningUserService;
before(async () => {
  host = testHost();
  service = await host.start({ version: 'v2' });
});
after(() => host.cleanup());

const json = 'application/json';
async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${service.http.url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': json, ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    // biome-ignore lint/suspicious/noExplicitAny: responses are read loosely; the assertions check their shape.
    body: text === '' ? undefined : (JSON.parse(text) as Record<string, any>),
  };
}
let unique = 0;
const email = (tag: string) => `${tag}-${++unique}@example.com`;

describe('REST', () => {
  it('registers under user-service with the version label', async () => {
    const [http] = await host.registry.lookup('user-service');
    const [grpc] = await host.registry.lookup('user-service-grpc');
    assert.equal(http?.port, service.http.port);
    assert.equal(http?.labels.version, 'v2');
    assert.equal(grpc?.port, service.grpc.port);
    assert.equal(grpc?.labels.version, 'v2');
    assert.equal((await call('GET', '/readyz')).status, 200);
  });

  it('creates, reads, updates and deletes a user, emitting one event per change', async () => {
    const events = await observer(host.broker, 'rest-crud');
    const created = await call('POST', '/users', { email: email('Ada').toUpperCase(), name: 'Ada' });
    assert.equal(created.status, 201);
    const user = created.body!;
    assert.equal(created.headers.get('location'), `/users/${user.id}`);
    assert.equal(user.status, 'ACTIVE');
    assert.match(user.email, /^ada-\d+@example\.com$/);
    assert.deepEqual((await call('GET', `/users/${user.id}`)).body, user);

    const patched = await call('PATCH', `/users/${user.id}`, { status: 'SUSPENDED' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body?.status, 'SUSPENDED');
    assert.equal((await call('PATCH', `/users/${user.id}`, { status: 'SUSPENDED' })).status, 200); // no change
    const deleted = await call('DELETE', `/users/${user.id}`);
    assert.equal(deleted.status, 204);
    assert.equal((await call('GET', `/users/${user.id}`)).status, 404);

    // A sentinel after the changes: the group is delivered in order, so once it arrived every earlier
    // event has, and what came before it is exactly what the changes emitted.
    const sentinel = (await call('POST', '/users', { email: email('sentinel'), name: 'S' })).body!;
    await events.waitFor((all) => all.some((m) => m.data.user_id === sentinel.id));
    const mine = events.received.filter((m) => m.data.user_id === user.id);
    assert.deepEqual(
      mine.map((m) => [m.topic, m.key, m.data.type, m.data.status]),
      [
        ['user.created', user.id, 'USER_CREATED', 'ACTIVE'],
        ['user.updated', user.id, 'USER_UPDATED', 'SUSPENDED'],
        ['user.deleted', user.id, 'USER_DELETED', 'SUSPENDED'],
      ],
    );
    assert.deepEqual(Object.keys(mine[0]!.data).sort(), [
      'email',
      'id',
      'name',
      'status',
      'timestamp',
      'type',
      'user_id',
    ]);
    assert.equal(mine[0]!.data.id, user.id);
    assert.equal(mine[0]!.data.email, user.email);
    assert.equal(mine[0]!.data.timestamp, user.created_at);
    await events.stop();
  });

  it('pages with page_size and an opaque next_page_token, and refuses a tampered one', async () => {
    for (let i = 0; i < 5; i++)
      assert.equal((await call('POST', '/users', { email: email('page'), name: `P${i}` })).status, 201);
    const ids: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const res = await call(
        'GET',
        `/users?page_size=2${token === '' ? '' : `&page_token=${encodeURIComponent(token)}`}`,
      );
      assert.equal(res.status, 200);
      assert.ok(res.body!.users.length <= 2);
      ids.push(...res.body!.users.map((u: { id: string }) => u.id));
      token = res.body!.next_page_token;
      pages++;
    } while (token !== '');
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.length >= 5 && pages >= 3);
    assert.deepEqual([...ids].sort(), ids, 'in id (creation) order');

    const first = await call('GET', '/users?page_size=1');
    const good = first.body!.next_page_token as string;
    const tampered = `${good.slice(0, 4)}${good[4] === 'A' ? 'B' : 'A'}${good.slice(5)}`;
    for (const bad of [tampered, 'garbage', `${good}x`]) {
      const res = await call('GET', `/users?page_token=${encodeURIComponent(bad)}`);
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      assert.equal(res.body?.field, 'page_token');
    }
    for (const size of ['abc', '-1', '1.5']) {
      const res = await call('GET', `/users?page_size=${size}`);
      assert.equal(res.status, 400);
      assert.equal(res.body?.field, 'page_size');
    }
    assert.equal(
      (await call('GET', '/users?page_size=100000')).status,
      200,
      'above the maximum is served the maximum',
    );
  });

  it('answers every bad request with a problem naming the field', async () => {
    const taken = email('taken');
    assert.equal((await call('POST', '/users', { email: taken, name: 'T' })).status, 201);
    const cases: [string, string, unknown, number, string | undefined][] = [
      ['POST', '/users', '{"email":', 400, 'body'],
      ['POST', '/users', '[1,2]', 400, 'body'],
      ['POST', '/users', { email: 'nope', name: 'X' }, 400, 'email'],
      ['POST', '/users', { email: email('x'), name: '' }, 400, 'name'],
      ['POST', '/users', { email: email('x'), name: 'x'.repeat(101) }, 400, 'name'],
      ['POST', '/users', { email: email('x'), name: 'X', status: 'UNKNOWN' }, 400, 'status'],
      ['POST', '/users', { email: email('x'), name: 'X', id: 'mine' }, 400, 'id'],
      ['POST', '/users', { email: taken.toUpperCase(), name: 'Dup' }, 409, 'email'],
      ['GET', '/users/00000000-0000-7000-8000-000000000000', undefined, 404, 'id'],
      ['PATCH', '/users/00000000-0000-7000-8000-000000000000', { name: 'X' }, 404, 'id'],
      ['DELETE', '/users/00000000-0000-7000-8000-000000000000', undefined, 404, 'id'],
      ['GET', '/nothing-here', undefined, 404, undefined],
      ['PUT', '/users', undefined, 405, undefined],
    ];
    for (const [method, path, body, status, field] of cases) {
      const res = await call(method, path, body);
      assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(body)}`);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      assert.equal(res.body?.field, field, `${method} ${path}`);
    }
    const wrongType = await call('POST', '/users', 'email=x', { 'content-type': 'text/plain' });
    assert.equal(wrongType.status, 415);
    const oversize = await call('POST', '/users', { email: email('big'), name: 'x'.repeat(70_000) });
    assert.equal(oversize.status, 413);
  });

  it('replays a POST with the same Idempotency-Key once, and refuses the key for another body', async () => {
    const events = await observer(host.broker, 'rest-idempotency');
    const body = { email: email('idem'), name: 'Idem' };
    const key = `key-${Date.now()}`;
    const first = await call('POST', '/users', body, { 'idempotency-key': key });
    const second = await call('POST', '/users', body, { 'idempotency-key': key });
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.deepEqual(second.body, first.body);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    const other = await call('POST', '/users', { ...body, name: 'Other' }, { 'idempotency-key': key });
    assert.equal(other.status, 409);
    // A second instance on the same host shares the keys.
    const peer = await host.start();
    const res = await fetch(`${peer.http.url}/users`, {
      method: 'POST',
      headers: { 'content-type': json, 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(await res.json(), first.body);

    const sentinel = (await call('POST', '/users', { email: email('sentinel'), name: 'S' })).body!;
    await events.waitFor((all) => all.some((m) => m.data.user_id === sentinel.id));
    assert.equal(events.received.filter((m) => m.data.email === body.email).length, 1, 'one user, one event');
    await events.stop();
  });

  it('lets exactly one of concurrent creates with one address win (409 for the rest)', async () => {
    const address = email('race');
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => call('POST', '/users', { email: address, name: `R${i}` })),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409]);
  });
});
