import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EventType, GrpcStatusError, grpcClient, Status, type UserEvent, UserService } from '@meshkit/grpc';
import { type SqliteBroker, sqliteBroker } from '@meshkit/messaging-sqlite';
import pg from 'pg';
import { pgIdempotencyStore } from './pg-idempotency.ts';
import { type RunningUserService, startUserService } from './service.ts';
import { openPostgresUserStore } from './store-postgres.ts';
import { eventually, observer } from './test-support/harness.ts';

// PostgreSQL must be reachable: under CI a missing server fails these tests, it never skips them.
const url = process.env.MESHKIT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `user_service_e2e_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const dir = mkdtempSync(join(tmpdir(), 'user-service-pg-'));
let broker: SqliteBroker;
const services: RunningUserService[] = [];

async function start(): Promise<RunningUserService> {
  const store = await openPostgresUserStore({ connectionString: url, schema, poolSize: 4 });
  const service = await startUserService({
    store,
    idempotency: pgIdempotencyStore(store.pool),
    broker,
    pageTokenKey: 'the postgres test page-token key',
    httpPort: 0,
    grpcPort: 0,
    drainTimeoutMs: 2_000,
  });
  services.push(service);
  return service;
}

before(() => {
  broker = sqliteBroker({ path: join(dir, 'events.db') });
});
after(async () => {
  for (const service of services) await service.close();
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
  const admin = new pg.Pool({ connectionString: url, max: 1 });
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

const post = (service: RunningUserService, body: unknown, key?: string) =>
  fetch(`${service.http.url}/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) },
    body: JSON.stringify(body),
  });

describe('user service on PostgreSQL', () => {
  it('relays each change once from the PostgreSQL outbox, shares idempotency keys and streams across instances', async () => {
    const [a, b] = await Promise.all([start(), start()]); // migrations raced by two instances
    const events = await observer(broker, 'pg-e2e');
    const streamed: UserEvent[] = [];
    const client = grpcClient(UserService, { service: 'user-service-grpc', endpoints: [b.grpc.address] });
    const abort = new AbortController();
    const streaming = (async () => {
      for await (const e of client.streamUserEvents({}, { signal: abort.signal })) streamed.push(e);
    })().catch(() => {});
    await eventually(() => b.hub.followers === 1);

    const body = { email: `pg-${Date.now()}@example.com`, name: 'Pat' };
    const key = randomUUID();
    const first = await post(a, body, key);
    assert.equal(first.status, 201);
    const user = (await first.json()) as { id: string };
    const replay = await post(b, body, key);
    assert.equal(replay.status, 201);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(await replay.json(), user);
    assert.equal((await post(b, { ...body, email: body.email.toUpperCase() })).status, 409);

    const patched = await fetch(`${b.http.url}/users/${user.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Patricia' }),
    });
    assert.equal(patched.status, 200);
    assert.equal((await fetch(`${a.http.url}/users/${user.id}`, { method: 'DELETE' })).status, 204);
    const missing = await client.getUser({ id: user.id }).catch((e: unknown) => e);
    assert.ok(missing instanceof GrpcStatusError && missing.status === Status.NOT_FOUND);

    const sentinel = (await (await post(a, { email: `s-${body.email}`, name: 'S' })).json()) as {
      id: string;
    };
    await events.waitFor((all) => all.some((m) => m.data.user_id === sentinel.id));
    assert.deepEqual(
      events.received
        .filter((m) => m.data.user_id === user.id)
        .map((m) => [m.topic, m.key, m.data.type, m.data.name]),
      [
        ['user.created', user.id, 'USER_CREATED', 'Pat'],
        ['user.updated', user.id, 'USER_UPDATED', 'Patricia'],
        ['user.deleted', user.id, 'USER_DELETED', 'Patricia'],
      ],
    );
    await eventually(() => streamed.some((e) => e.userId === sentinel.id));
    assert.deepEqual(
      streamed.filter((e) => e.userId === user.id).map((e) => e.type),
      [EventType.CREATED, EventType.UPDATED, EventType.DELETED],
    );
    abort.abort();
    await streaming;
    await client.$close();
    await events.stop();
  });
});
