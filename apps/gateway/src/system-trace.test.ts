/**
 * The reference system in one process on one embedded mesh: the gateway, the user service and the
 * notifier, with tracing into memory. One `POST /api/users` through the gateway must make one trace:
 * the edge's request, its upstream call, the user service's request, the outbox event's publish and the
 * notifier's handling of it, each the child of the one before.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { messagingChannels, type ProcessEvent } from '@meshkit/messaging';
import { type Notifier, startNotifier } from '@meshkit/notifier';
import { openSqliteUserStore, type RunningUserService, startUserService } from '@meshkit/user-service';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { createMesh, type Mesh } from 'meshkit';
import { type Gateway, startGateway } from './gateway.ts';
import { defaultRoutesPath } from './options.ts';

const SERVER = 1;
const CLIENT = 2;
const PRODUCER = 3;
const CONSUMER = 4;

describe('one trace across gateway, user-service and notifier', () => {
  const dir = mkdtempSync(join(tmpdir(), 'system-trace-'));
  const exporter = new InMemorySpanExporter();
  let mesh: Mesh;
  let users: RunningUserService;
  let notifier: Notifier;
  let gateway: Gateway;

  before(async () => {
    mesh = await createMesh({
      env: { MESH_DATA_DIR: dir, MESH_ROUTES: defaultRoutesPath },
      telemetry: { tracing: { exporter, export: 'simple' }, logs: false },
    });
    const metrics = mesh.telemetry.metrics?.registry;
    assert.ok(metrics);
    users = await startUserService({
      store: openSqliteUserStore({ path: join(dir, 'users.db') }),
      broker: mesh.broker,
      registry: mesh.registry,
      pageTokenKey: 'a page token key of 16+ bytes',
      version: 'v2',
      httpPort: 0,
      grpcPort: 0,
      deregisterGraceMs: 0,
      metrics,
    });
    notifier = await startNotifier({
      broker: mesh.broker,
      registry: mesh.registry,
      dataDir: dir,
      metrics,
      shutdown: { signals: false, exit: false, graceMs: 0 },
    });
    const routes = mesh.routes;
    assert.ok(routes);
    gateway = await startGateway({
      registry: mesh.registry,
      routes,
      metrics,
      registerAs: 'gateway',
      shutdown: { signals: false, graceMs: 0 },
    });
  });
  after(async () => {
    await gateway?.close();
    await notifier?.close();
    await users?.close();
    await mesh?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('POST /api/users: edge → upstream call → user-service → outbox publish → notifier, parent-linked', async () => {
    // The notifier's handling has ended (its span with it) once its process-end event is out.
    const handled = new Promise<ProcessEvent>((resolve) => {
      const onEnd = (e: ProcessEvent) => {
        if (e.group !== 'notifications') return;
        messagingChannels.processEnd.unsubscribe(onEnd);
        resolve(e);
      };
      messagingChannels.processEnd.subscribe(onEnd);
    });
    const res = await fetch(`${gateway.url}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-canary': 'true' },
      body: JSON.stringify({ email: 'trace@example.com', name: 'Trace' }),
    });
    assert.equal(res.status, 201);
    const created = (await res.json()) as { id: string };
    const event = await handled;
    assert.equal(event.settlement, 'ack');
    const listed = (await (await fetch(`${notifier.url}/notifications?user_id=${created.id}`)).json()) as {
      total: number;
    };
    assert.equal(listed.total, 1);

    const spans = exporter.getFinishedSpans();
    const one = (what: string, pick: (s: ReadableSpan) => boolean): ReadableSpan => {
      const found = spans.filter(pick);
      assert.equal(found.length, 1, `${what}: ${spans.map((s) => `${s.kind}:${s.name}`).join(', ')}`);
      return found[0]!;
    };
    const edge = one(
      'the gateway SERVER span',
      (s) => s.kind === SERVER && s.attributes['meshkit.service'] === 'gateway',
    );
    const call = one(
      'the gateway call span',
      (s) => s.kind === 0 && s.attributes['meshkit.service'] === 'user-service',
    );
    const attempt = one('the gateway CLIENT span', (s) => s.kind === CLIENT);
    const served = one(
      'the user-service SERVER span',
      (s) => s.kind === SERVER && s.attributes['meshkit.service'] === 'user-service',
    );
    const publish = one('the PRODUCER span', (s) => s.kind === PRODUCER && s.name === 'publish user.created');
    const processed = one(
      'the notifier CONSUMER span',
      (s) => s.kind === CONSUMER && s.attributes['messaging.consumer.group.name'] === 'notifications',
    );

    const chain = [edge, call, attempt, served, publish, processed];
    assert.equal(new Set(chain.map((s) => s.spanContext().traceId)).size, 1, 'one trace id');
    assert.equal(edge.parentSpanContext, undefined, 'the edge starts the trace');
    for (let i = 1; i < chain.length; i++) {
      assert.equal(
        chain[i]!.parentSpanContext?.spanId,
        chain[i - 1]!.spanContext().spanId,
        `${chain[i]!.name} is the child of ${chain[i - 1]!.name}`,
      );
    }
    assert.equal(served.attributes['http.response.status_code'], 201);
    assert.equal(res.headers.get('x-meshkit-attempts'), '1');

    // The same exchanges, counted on the mesh's registry.
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    assert.match(
      text,
      /http_server_request_duration_seconds_count\{[^}]*service="gateway"[^}]*http_response_status_code="201"/,
    );
    assert.match(
      text,
      /http_server_request_duration_seconds_count\{[^}]*service="user-service"[^}]*http_response_status_code="201"/,
    );
    assert.match(
      text,
      /meshkit_client_calls_total\{[^}]*service="user-service"[^}]*outcome="success"[^}]*\} 1/,
    );
    assert.match(
      text,
      /messaging_client_consumed_messages_total\{[^}]*messaging_consumer_group_name="notifications"[^}]*settlement="ack"[^}]*\} 1/,
    );
  });
});
