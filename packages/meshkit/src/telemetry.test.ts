import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError } from '@meshkit/core';
import { UserService } from '@meshkit/grpc';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { createMesh, grpcService, type Mesh, type MeshTelemetryOptions, meshConfig } from './index.ts';
import { tempDir, userService, whoAmI } from './test-support/services.ts';

const quick = { signals: false, graceMs: 0, drainTimeoutMs: 1_000 } as const;
const read = (env: Record<string, string>, telemetry?: MeshTelemetryOptions) =>
  meshConfig({ env, cwd: '/srv/app', ...(telemetry === undefined ? {} : { telemetry }) }).telemetry;

describe('telemetry configuration', () => {
  test('defaults: metrics on, tracing off, logs at info', () => {
    const t = read({});
    assert.equal(t.metrics, true);
    assert.equal(t.tracing, undefined);
    assert.equal(t.logLevel, 'info');
  });

  test('the standard OTEL_* variables turn tracing on; OTEL_SDK_DISABLED=true wins', () => {
    assert.notEqual(read({ OTEL_TRACES_EXPORTER: 'otlp' }).tracing, undefined);
    assert.notEqual(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }).tracing, undefined);
    assert.equal(read({ OTEL_TRACES_EXPORTER: 'console' }).consoleTraces, true);
    assert.equal(
      read({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' }).tracing,
      undefined,
    );
    assert.equal(read({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }).tracing, undefined);
    const exporter = new InMemorySpanExporter();
    assert.equal(read({ OTEL_SDK_DISABLED: 'TRUE' }, { tracing: { exporter } }).tracing, undefined);
  });

  test('the service name goes on the spans: OTEL_SERVICE_NAME, else MESH_SERVICE', () => {
    assert.equal(read({ OTEL_TRACES_EXPORTER: 'otlp', MESH_SERVICE: 'users' }).tracing?.serviceName, 'users');
    assert.equal(
      read({ OTEL_TRACES_EXPORTER: 'otlp', MESH_SERVICE: 'users', OTEL_SERVICE_NAME: 'u' }).tracing
        ?.serviceName,
      'u',
    );
  });

  test('an option wins over its variable', () => {
    assert.equal(read({ MESH_METRICS: 'true' }, { metrics: false }).metrics, false);
    assert.equal(read({ MESH_METRICS: 'false' }).metrics, false);
    assert.equal(read({ MESH_LOG_LEVEL: 'debug' }, { logs: 'warn' }).logLevel, 'warn');
    assert.equal(read({ MESH_LOG_LEVEL: 'silent' }).logLevel, undefined);
    assert.equal(read({ OTEL_TRACES_EXPORTER: 'otlp' }, { tracing: false }).tracing, undefined);
  });

  test('bad values are refused naming the variable or the option', () => {
    assert.throws(() => read({ MESH_METRICS: 'yes' }), {
      name: InvalidArgumentError.name,
      message: /MESH_METRICS/,
    });
    assert.throws(() => read({ MESH_LOG_LEVEL: 'loud' }), { message: /MESH_LOG_LEVEL.*loud/ });
    assert.throws(() => read({ OTEL_TRACES_EXPORTER: 'zipkin' }), { message: /OTEL_TRACES_EXPORTER/ });
    assert.throws(() => read({}, { logs: 'loud' as 'info' }), { message: /createMesh\.telemetry\.logs/ });
    assert.throws(() => read({ MESH_METRICS_PORT: '70000' }), /MESH_METRICS_PORT/);
  });
});

async function scrape(url: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('a mesh with telemetry', () => {
  const tmp = tempDir();
  const exporter = new InMemorySpanExporter();
  let mesh: Mesh;

  before(async () => {
    mesh = await createMesh({
      env: { MESH_DATA_DIR: tmp.dir },
      telemetry: { tracing: { exporter, export: 'simple' }, logs: false },
    });
  });
  after(async () => {
    await mesh.close();
    tmp.remove();
  });

  test('serve() answers GET /metrics with the calls this mesh made and served', async () => {
    const served = await mesh.serve({ service: 'echo', http: { handler: whoAmI('v1') }, shutdown: quick });
    try {
      const client = mesh.http('echo');
      const reply = (await client.get('/hello', { route: '/hello' })) as { path: string };
      assert.equal(reply.path, '/hello');
      const { status, type, text } = await scrape(`http://${served.http?.address}/metrics`);
      assert.equal(status, 200);
      assert.match(type ?? '', /^text\/plain/);
      assert.match(text, /meshkit_client_calls_total\{[^}]*service="echo"[^}]*outcome="success"[^}]*\} 1/);
      assert.match(text, /http_server_request_duration_seconds_count\{[^}]*service="echo"/);
      await client.close();
    } finally {
      await served.close();
    }
  });

  test('a gRPC-only service answers /metrics on its own port, registered as the metrics-port label', async () => {
    const served = await mesh.serve({
      service: 'users-grpc',
      grpc: { services: [grpcService(UserService, userService('a'))] },
      shutdown: quick,
    });
    try {
      assert.notEqual(served.metrics, undefined);
      const [instance] = await mesh.registry.lookup('users-grpc');
      assert.equal(instance?.labels['metrics-port'], String(served.metrics?.port));
      const users = mesh.grpc(UserService, 'users-grpc');
      await users.getUser({ id: '42' });
      const { status, text } = await scrape(`http://${served.metrics?.address}/metrics`);
      assert.equal(status, 200);
      assert.match(text, /rpc_server_duration_seconds_count\{[^}]*rpc_method="GetUser"/);
      assert.equal((await scrape(`http://${served.metrics?.address}/other`)).status, 404);
      users.$close();
    } finally {
      await served.close();
    }
    // Closed with its service.
    await assert.rejects(fetch(`http://${served.metrics?.address}/metrics`));
  });

  test('tracing given as an option records the calls as linked spans', async () => {
    exporter.reset();
    const served = await mesh.serve({ service: 'traced', http: { handler: whoAmI('v1') }, shutdown: quick });
    try {
      const client = mesh.http('traced');
      await client.get('/x');
      await client.close();
    } finally {
      await served.close();
    }
    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.kind === 1);
    assert.ok(server, 'a SERVER span');
    assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 1);
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    assert.equal(
      byId.get(server.parentSpanContext?.spanId ?? '')?.kind,
      2,
      'the server span is a child of the CLIENT attempt',
    );
  });
});

describe('telemetry off', () => {
  test('MESH_METRICS=false: no /metrics route, the handler sees the path; close() unsubscribes', async () => {
    const tmp = tempDir();
    const mesh = await createMesh({
      env: { MESH_DATA_DIR: tmp.dir, MESH_METRICS: 'false', MESH_LOG_LEVEL: 'silent' },
    });
    try {
      assert.equal(mesh.telemetry.metrics, undefined);
      assert.equal(mesh.telemetry.logs, undefined);
      const served = await mesh.serve({ service: 'plain', http: { handler: whoAmI('v1') }, shutdown: quick });
      const reply = await scrape(`http://${served.http?.address}/metrics`);
      assert.deepEqual(JSON.parse(reply.text).path, '/metrics');
      await served.close();
    } finally {
      await mesh.close();
      tmp.remove();
    }
  });
});
