import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exchangeChannels } from '@meshkit/core';
import { GrpcStatusError, grpcClient, grpcServer, Status, UserService } from '@meshkit/grpc';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { metrics } from './metrics.ts';
import { total } from './test-support/samples.ts';
import { countdown } from './test-support/servers.ts';
import { tracing } from './tracing.ts';

/** A UserService that knows one user, on 127.0.0.1 port 0. */
async function userServer() {
  const server = grpcServer({ shutdownGraceMs: 1_000 }).add(UserService, {
    getUser(request: { id: string }) {
      if (request.id !== '1') throw new GrpcStatusError(Status.NOT_FOUND, `no user ${request.id}`);
      return { id: '1', email: 'ada@example.com', name: 'Ada' };
    },
  } as never);
  const { address } = await server.listen();
  return { address, close: () => server.close() };
}

describe('gRPC observed', () => {
  it('labels rpc client and server durations with rpc_service, rpc_method and rpc_grpc_status_code', async (t) => {
    const observed = metrics();
    t.after(() => observed.close());
    const server = await userServer();
    t.after(() => server.close());
    const served = countdown(2);
    exchangeChannels.serverRequestEnd.subscribe(served.listener);
    t.after(() => exchangeChannels.serverRequestEnd.unsubscribe(served.listener));
    const users = grpcClient(UserService, { service: 'users', endpoints: [server.address] });
    t.after(() => users.$close());

    assert.equal((await users.getUser({ id: '1' })).email, 'ada@example.com');
    await assert.rejects(users.getUser({ id: '2' }), (e: unknown) => e instanceof GrpcStatusError);
    await served.done;

    const { registry } = observed;
    const rpc = { rpc_system: 'grpc', rpc_service: 'user.UserService', rpc_method: 'GetUser' };
    const client = { ...rpc, service: 'users', server_address: server.address, attempt_kind: 'first' };
    assert.equal(
      await total(registry, 'rpc_client_duration_seconds_count', { ...client, rpc_grpc_status_code: '0' }),
      1,
    );
    assert.equal(
      await total(registry, 'rpc_client_duration_seconds_count', { ...client, rpc_grpc_status_code: '5' }),
      1,
    );
    assert.equal(
      await total(registry, 'rpc_server_duration_seconds_count', { ...rpc, rpc_grpc_status_code: '0' }),
      1,
    );
    assert.equal(
      await total(registry, 'rpc_server_duration_seconds_count', { ...rpc, rpc_grpc_status_code: '5' }),
      1,
    );
  });

  it('makes the server span a child of the client attempt through gRPC metadata', async (t) => {
    const exporter = new InMemorySpanExporter();
    const traces = tracing({ exporter, export: 'simple' });
    t.after(() => traces.close());
    const server = await userServer();
    t.after(() => server.close());
    const served = countdown(1);
    exchangeChannels.serverRequestEnd.subscribe(served.listener);
    t.after(() => exchangeChannels.serverRequestEnd.unsubscribe(served.listener));
    const users = grpcClient(UserService, { service: 'users', endpoints: [server.address] });
    t.after(() => users.$close());

    await users.getUser({ id: '1' });
    await served.done;

    const spans = exporter.getFinishedSpans();
    const attempt = spans.find((s) => s.kind === SpanKind.CLIENT);
    const serverSpan = spans.find((s) => s.kind === SpanKind.SERVER);
    assert.ok(attempt && serverSpan);
    assert.equal(attempt.name, 'user.UserService/GetUser');
    assert.equal(serverSpan.parentSpanContext?.spanId, attempt.spanContext().spanId);
    assert.equal(serverSpan.spanContext().traceId, attempt.spanContext().traceId);
    assert.equal(serverSpan.attributes['rpc.grpc.status_code'], 0);
  });
});
