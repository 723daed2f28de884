import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { createContext, FakeClock, InvalidArgumentError } from '@meshkit/core';
import { httpClient } from '@meshkit/http';
import { consume, outboxRelay, publisher, settle } from '@meshkit/messaging';
import { sqliteBroker, sqliteOutbox } from '@meshkit/messaging-sqlite';
import { circuitBreaker, constantBackoff } from '@meshkit/policies';
import { Registry, register } from 'prom-client';
import { metrics } from './metrics.ts';
import { metricsResponse } from './metrics-handler.ts';
import { channelsWithSubscribers } from './test-support/channels.ts';
import { samples, total } from './test-support/samples.ts';
import { countdown, startServer } from './test-support/servers.ts';

const noWait = { maxAttempts: 3, backoff: constantBackoff(0) };

describe('metrics()', () => {
  it('labels client attempts and server requests as documented, and counts retries apart from first attempts', async (t) => {
    const observed = metrics();
    t.after(() => observed.close());
    let calls = 0;
    const server = await startServer('users', () =>
      ++calls === 1 ? { status: 503, body: 'busy' } : { body: { id: 42 } },
    );
    t.after(() => server.stop());
    const users = httpClient({ service: 'users', endpoints: [server.address], policies: { retry: noWait } });
    t.after(() => users.close());

    assert.deepEqual(await users.get('/users/42', { route: '/users/:id' }), { id: 42 });

    const { registry } = observed;
    assert.equal(
      await total(registry, 'meshkit_client_calls_total', {
        service: 'users',
        outcome: 'success',
        route: '/users/:id',
      }),
      1,
    );
    assert.equal(
      await total(registry, 'meshkit_client_attempts_total', {
        service: 'users',
        attempt_kind: 'first',
        outcome: 'error',
      }),
      1,
    );
    assert.equal(
      await total(registry, 'meshkit_client_attempts_total', {
        service: 'users',
        attempt_kind: 'retry',
        outcome: 'success',
      }),
      1,
    );
    assert.equal(await total(registry, 'meshkit_client_retry_amplification_ratio', { service: 'users' }), 2);
    const request = {
      service: 'users',
      server_address: server.address,
      endpoint: server.address,
      http_request_method: 'GET',
      http_route: '/users/:id',
    };
    assert.equal(
      await total(registry, 'http_client_request_duration_seconds_count', {
        ...request,
        http_response_status_code: '503',
        attempt_kind: 'first',
      }),
      1,
    );
    assert.equal(
      await total(registry, 'http_client_request_duration_seconds_count', {
        ...request,
        http_response_status_code: '200',
        attempt_kind: 'retry',
      }),
      1,
    );
    assert.equal(
      await total(registry, 'meshkit_balancer_picks_total', { service: 'users', endpoint: server.address }),
      2,
    );
    assert.equal(await total(registry, 'meshkit_client_attempts_in_flight', { service: 'users' }), 0);
    // The server's side: the node kit has no route templates, so no raw path ever becomes a label.
    const served = await samples(registry, 'http_server_request_duration_seconds_count');
    assert.deepEqual(
      served
        .map((s) => [
          s.labels.service,
          s.labels.http_request_method,
          s.labels.http_route,
          s.labels.http_response_status_code,
          s.value,
        ])
        .sort(),
      [
        ['users', 'GET', '', '200', 1],
        ['users', 'GET', '', '503', 1],
      ],
    );
    const text = (await metricsResponse(registry)).body;
    assert.match(text, /# TYPE http_client_request_duration_seconds histogram/);
    assert.match(text, /# TYPE meshkit_client_attempts_in_flight gauge/);
    assert.equal(
      await total(registry, 'http_client_request_duration_seconds_bucket', {
        ...request,
        http_response_status_code: '200',
        le: '+Inf',
      }),
      1,
      'the +Inf bucket holds every observation',
    );
    assert.doesNotMatch(text, /\/users\/42/, 'no raw path in any label');
  });

  it('caps the distinct values of a label and counts the rest under "other"', async (t) => {
    const observed = metrics({ maxLabelValues: 3 });
    t.after(() => observed.close());
    const server = await startServer('items', () => ({ body: 'ok' }));
    t.after(() => server.stop());
    const items = httpClient({ service: 'items', endpoints: [server.address] });
    t.after(() => items.close());

    for (let i = 0; i < 6; i++) await items.get(`/items/${i}`, { route: `/items/${i}` });

    const routes = (await samples(observed.registry, 'meshkit_client_calls_total')).map(
      (s) => s.labels.route,
    );
    assert.deepEqual(new Set(routes), new Set(['/items/0', '/items/1', '/items/2', 'other']));
    assert.equal(await total(observed.registry, 'meshkit_client_calls_total', { route: 'other' }), 3);
  });

  it('records breaker transitions and the current state per endpoint', async (t) => {
    const observed = metrics();
    t.after(() => observed.close());
    const clock = new FakeClock();
    const breaker = circuitBreaker<string, string>({
      clock,
      halfOpenAfterMs: 1_000,
      target: { service: 'users', endpoint: 'a' },
    });
    let healthy = false;
    const call = breaker.wrap(async () => {
      if (!healthy) throw new Error('down');
      return 'ok';
    });
    const ctx = createContext({ clock });
    for (let i = 0; i < 5; i++) await call('x', ctx).catch(() => undefined);
    const { registry } = observed;
    const labels = { service: 'users', endpoint: 'a' };
    assert.equal(
      await total(registry, 'meshkit_circuit_breaker_transitions_total', {
        ...labels,
        from: 'closed',
        to: 'open',
      }),
      1,
    );
    assert.equal(await total(registry, 'meshkit_circuit_breaker_state', { ...labels, state: 'open' }), 1);
    assert.equal(await total(registry, 'meshkit_circuit_breaker_state', { ...labels, state: 'closed' }), 0);

    healthy = true;
    await clock.advance(1_000);
    assert.equal(await call('x', ctx), 'ok');
    assert.equal(await total(registry, 'meshkit_circuit_breaker_state', { ...labels, state: 'closed' }), 1);
    assert.equal(await total(registry, 'meshkit_circuit_breaker_state', { ...labels, state: 'open' }), 0);
    assert.equal(
      await total(registry, 'meshkit_circuit_breaker_transitions_total', { ...labels, to: 'closed' }),
      1,
    );
  });

  it('counts publishes, consumed messages by settlement and dead letters on the embedded broker', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-obs-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const observed = metrics();
    t.after(() => observed.close());
    const broker = sqliteBroker({ path: join(dir, 'broker.db') });
    t.after(() => broker.close());
    const events = publisher(broker, { source: '/test' });
    const consumer = await consume<{ n: number }>(broker, {
      group: 'mails',
      topics: ['user.created'],
      handler: async (msg) => (msg.data.n === 2 ? settle.deadLetter('no such mailbox') : undefined),
    });
    t.after(() => consumer.stop());
    const deadLetters = countdown(1);
    const dlq = await consume(broker, {
      group: 'dlq',
      topics: ['dead-letter.mails'],
      handler: async (m) => deadLetters.listener(m),
    });
    t.after(() => dlq.stop());

    for (const n of [1, 2, 3]) await events.publish('user.created', { n });
    await deadLetters.done;

    const { registry } = observed;
    const labels = { messaging_destination_name: 'user.created', messaging_consumer_group_name: 'mails' };
    assert.equal(
      await total(registry, 'messaging_client_sent_messages_total', {
        messaging_destination_name: 'user.created',
        outcome: 'success',
      }),
      3,
    );
    assert.equal(
      await total(registry, 'messaging_client_operation_duration_seconds_count', {
        messaging_operation_name: 'publish',
        messaging_destination_name: 'user.created',
      }),
      3,
    );
    assert.equal(
      await total(registry, 'meshkit_messaging_dead_letters_total', {
        ...labels,
        reason: 'handler-rejected',
      }),
      1,
    );
    assert.equal(
      await total(registry, 'messaging_client_consumed_messages_total', {
        ...labels,
        settlement: 'dead-letter',
      }),
      1,
    );
    assert.equal(
      (await total(registry, 'messaging_process_duration_seconds_count', { ...labels, settlement: 'ack' })) >=
        1,
      true,
    );
  });

  it('reports the outbox backlog and the age of its oldest row from each relay round', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-obs-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const observed = metrics();
    t.after(() => observed.close());
    const clock = new FakeClock();
    const file = join(dir, 'svc.db');
    const db = new DatabaseSync(file);
    t.after(() => db.close());
    db.exec('PRAGMA journal_mode = WAL');
    const outbox = sqliteOutbox(db, { clock });
    const broker = sqliteBroker({ path: join(dir, 'broker.db'), clock });
    t.after(() => broker.close());
    const relayDb = new DatabaseSync(file);
    t.after(() => relayDb.close());
    const relay = outboxRelay(sqliteOutbox(relayDb), publisher(broker, { source: '/users', clock }), {
      owner: 'relay-1',
      clock,
      batchSize: 2,
    });

    outbox.transaction((tx) => tx.add({ topic: 'user.created', data: { id: 1 } }));
    await clock.advance(1_500);
    outbox.transaction((tx) => tx.add({ topic: 'user.created', data: { id: 2 } }));
    outbox.transaction((tx) => tx.add({ topic: 'user.created', data: { id: 3 } }));
    await clock.advance(500);

    assert.equal(await relay.runOnce(), 2);
    const { registry } = observed;
    assert.equal(
      await total(registry, 'meshkit_outbox_backlog', { owner: 'relay-1' }),
      2,
      'capped at the batch size',
    );
    assert.equal(await total(registry, 'meshkit_outbox_oldest_age_seconds', { owner: 'relay-1' }), 2);
    assert.equal(await relay.runOnce(), 1);
    assert.equal(await relay.runOnce(), 0);
    assert.equal(await total(registry, 'meshkit_outbox_backlog', { owner: 'relay-1' }), 0);
    assert.equal(await total(registry, 'meshkit_outbox_oldest_age_seconds', { owner: 'relay-1' }), 0);
  });

  it('registers on the registry it is given, never on the global default one', (t) => {
    const registry = new Registry();
    const observed = metrics({ registry });
    t.after(() => observed.close());
    assert.equal(observed.registry, registry);
    assert.ok(registry.getSingleMetric('http_client_request_duration_seconds'));
    assert.equal(register.getSingleMetric('http_client_request_duration_seconds'), undefined);
  });

  it('refuses bad options, naming them', (_t) => {
    assert.throws(
      () => metrics({ maxLabelValues: 0 }),
      (e: unknown) => e instanceof InvalidArgumentError && /maxLabelValues/.test(e.message),
    );
    assert.throws(() => metrics({ registry: {} as Registry }), /metrics\.registry/);
  });

  it('leaves no subscriber behind after close()', (_t) => {
    assert.deepEqual(channelsWithSubscribers(), [], 'nothing subscribed before');
    const observed = metrics();
    assert.ok(channelsWithSubscribers().length > 10);
    observed.close();
    assert.deepEqual(channelsWithSubscribers(), []);
  });
});
