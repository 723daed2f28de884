import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exchangeChannels, type Layer } from '@meshkit/core';
import { type HttpRequest, type HttpResponse, httpClient } from '@meshkit/http';
import { consume, messagingChannels, publisher } from '@meshkit/messaging';
import { sqliteBroker } from '@meshkit/messaging-sqlite';
import { constantBackoff } from '@meshkit/policies';
import { SpanKind } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';
import { samplerFromEnv } from './sampler-from-env.ts';
import { channelsWithSubscribers } from './test-support/channels.ts';
import { countdown, startServer } from './test-support/servers.ts';
import { tracing } from './tracing.ts';

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

function byName(spans: readonly ReadableSpan[], name: string, kind: SpanKind): ReadableSpan[] {
  return spans.filter((s) => s.name === name && s.kind === kind);
}

describe('tracing()', () => {
  it('follows one request over two HTTP hops and a publish → consume on the embedded broker as one trace', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-obs-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const exporter = new InMemorySpanExporter();
    const traces = tracing({ exporter, export: 'simple' });
    t.after(() => traces.close());

    const broker = sqliteBroker({ path: join(dir, 'broker.db') });
    t.after(() => broker.close());
    const events = publisher(broker, { source: '/orders' });
    // Ends are published after the tracer's own listener, so these fire once each span has ended.
    const processed = countdown(1);
    messagingChannels.processEnd.subscribe(processed.listener);
    t.after(() => messagingChannels.processEnd.unsubscribe(processed.listener));
    const served = countdown(2);
    exchangeChannels.serverRequestEnd.subscribe(served.listener);
    t.after(() => exchangeChannels.serverRequestEnd.unsubscribe(served.listener));
    const consumer = await consume<{ id: string }>(broker, {
      group: 'mails',
      topics: ['order.placed'],
      handler: async () => undefined,
    });
    t.after(() => consumer.stop());

    const orders = await startServer('orders', async (_req, ctx) => {
      await events.publish('order.placed', { id: '7' }, {}, ctx);
      return { status: 201, body: { id: '7' } };
    });
    t.after(() => orders.stop());
    const toOrders = httpClient({ service: 'orders', endpoints: [orders.address] });
    t.after(() => toOrders.close());
    const gateway = await startServer('gateway', async (_req, ctx) => ({
      body: await toOrders.post('/orders', { item: 'book' }, { ctx, route: '/orders' }),
    }));
    t.after(() => gateway.stop());
    const toGateway = httpClient({ service: 'gateway', endpoints: [gateway.address] });
    t.after(() => toGateway.close());

    assert.deepEqual(await toGateway.get('/checkout', { route: '/checkout' }), { id: '7' });
    await Promise.all([served.done, processed.done]);

    const spans = exporter.getFinishedSpans();
    assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 1, 'one trace');
    const [call] = byName(spans, 'GET /checkout', SpanKind.INTERNAL);
    const [attempt] = byName(spans, 'GET /checkout', SpanKind.CLIENT);
    const [gatewayServer] = spans.filter(
      (s) => s.kind === SpanKind.SERVER && s.attributes['meshkit.service'] === 'gateway',
    );
    const [ordersCall] = byName(spans, 'POST /orders', SpanKind.INTERNAL);
    const [ordersAttempt] = byName(spans, 'POST /orders', SpanKind.CLIENT);
    const [ordersServer] = spans.filter(
      (s) => s.kind === SpanKind.SERVER && s.attributes['meshkit.service'] === 'orders',
    );
    const [publish] = byName(spans, 'publish order.placed', SpanKind.PRODUCER);
    const [process] = byName(spans, 'process order.placed', SpanKind.CONSUMER);
    for (const span of [
      call,
      attempt,
      gatewayServer,
      ordersCall,
      ordersAttempt,
      ordersServer,
      publish,
      process,
    ]) {
      assert.ok(span, `every hop has its span (${spans.map((s) => s.name).join(', ')})`);
    }
    assert.equal(parentOf(call!), undefined, 'the first call is the root');
    assert.equal(parentOf(attempt!), call!.spanContext().spanId);
    assert.equal(parentOf(gatewayServer!), attempt!.spanContext().spanId);
    assert.equal(parentOf(ordersCall!), gatewayServer!.spanContext().spanId);
    assert.equal(parentOf(ordersAttempt!), ordersCall!.spanContext().spanId);
    assert.equal(parentOf(ordersServer!), ordersAttempt!.spanContext().spanId);
    assert.equal(parentOf(publish!), ordersServer!.spanContext().spanId);
    assert.equal(parentOf(process!), publish!.spanContext().spanId);
    assert.equal(gatewayServer!.attributes['http.response.status_code'], 200);
    assert.equal(ordersAttempt!.attributes['http.response.status_code'], 201);
    assert.equal(process!.attributes['messaging.consumer.group.name'], 'mails');
  });

  it('makes retries child spans of one logical call', async (t) => {
    const exporter = new InMemorySpanExporter();
    const traces = tracing({ exporter, export: 'simple' });
    t.after(() => traces.close());
    let calls = 0;
    const server = await startServer('flaky', () =>
      ++calls < 3 ? { status: 503, body: 'busy' } : { body: 'ok' },
    );
    t.after(() => server.stop());
    const flaky = httpClient({
      service: 'flaky',
      endpoints: [server.address],
      policies: { retry: { maxAttempts: 3, backoff: constantBackoff(0) } },
    });
    t.after(() => flaky.close());

    assert.equal(await flaky.get('/x', { route: '/x' }), 'ok');

    const spans = exporter.getFinishedSpans();
    const [call] = byName(spans, 'GET /x', SpanKind.INTERNAL);
    const attempts = byName(spans, 'GET /x', SpanKind.CLIENT);
    assert.ok(call);
    assert.deepEqual(
      attempts.map((a) => [
        a.attributes['meshkit.attempt_kind'],
        a.attributes['http.response.status_code'],
        parentOf(a),
      ]),
      [
        ['first', 503, call.spanContext().spanId],
        ['retry', 503, call.spanContext().spanId],
        ['retry', 200, call.spanContext().spanId],
      ],
    );
  });

  it("finds an attempt's parent through a layer that adds metadata, and follows one that replaces traceparent", async (t) => {
    const exporter = new InMemorySpanExporter();
    const traces = tracing({ exporter, export: 'simple' });
    t.after(() => traces.close());
    const server = await startServer('echo', (_req, ctx) => ({ body: ctx.metadata['x-request-id'] ?? '' }));
    t.after(() => server.stop());
    const layer = (name: string, metadata: Record<string, string>): Layer<HttpRequest, HttpResponse> => ({
      name,
      wrap: (next) => (req, ctx) => next(req, ctx.with({ metadata })),
    });
    const foreign = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const adding = httpClient({
      service: 'adding',
      endpoints: [server.address],
      layers: [layer('request-id', { 'x-request-id': 'r-1' })],
    });
    t.after(() => adding.close());
    const replacing = httpClient({
      service: 'replacing',
      endpoints: [server.address],
      layers: [layer('foreign-parent', { traceparent: foreign })],
    });
    t.after(() => replacing.close());

    assert.equal(await adding.get('/a', { route: '/a' }), 'r-1');
    await replacing.get('/b', { route: '/b' });

    const spans = exporter.getFinishedSpans();
    const [addingCall] = byName(spans, 'GET /a', SpanKind.INTERNAL);
    const [addingAttempt] = byName(spans, 'GET /a', SpanKind.CLIENT);
    assert.equal(parentOf(addingAttempt!), addingCall!.spanContext().spanId, 'parent kept through a copy');
    const [replacingAttempt] = byName(spans, 'GET /b', SpanKind.CLIENT);
    assert.equal(parentOf(replacingAttempt!), 'b7ad6b7169203331', 'the traceparent the layer wrote');
    assert.equal(replacingAttempt!.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
  });

  it('lets two subscribers each end and parent their own spans of the same exchanges', async (t) => {
    const first = new InMemorySpanExporter();
    const second = new InMemorySpanExporter();
    const one = tracing({ exporter: first, export: 'simple' });
    t.after(() => one.close());
    const two = tracing({ exporter: second, export: 'simple' });
    t.after(() => two.close());
    const server = await startServer('echo', () => ({ body: 'ok' }));
    t.after(() => server.stop());
    const echo = httpClient({ service: 'echo', endpoints: [server.address] });
    t.after(() => echo.close());

    await echo.get('/x', { route: '/x' });

    for (const exporter of [first, second]) {
      const spans = exporter.getFinishedSpans();
      const [call] = byName(spans, 'GET /x', SpanKind.INTERNAL);
      const [attempt] = byName(spans, 'GET /x', SpanKind.CLIENT);
      assert.ok(call && attempt);
      assert.equal(parentOf(attempt), call.spanContext().spanId);
    }
  });

  it('carries a dropped trace on with its flags unset, and exports none of its spans', async (t) => {
    const exporter = new InMemorySpanExporter();
    const sampler = new ParentBasedSampler({ root: new AlwaysOffSampler() });
    const traces = tracing({ exporter, export: 'simple', sampler });
    t.after(() => traces.close());
    const server = await startServer('echo', (_req, ctx) => ({ body: ctx.metadata.traceparent ?? '' }));
    t.after(() => server.stop());
    const echo = httpClient({ service: 'echo', endpoints: [server.address] });
    t.after(() => echo.close());

    const received = await echo.get('/x', { route: '/x' });

    assert.match(String(received), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    assert.notEqual(String(received).slice(3, 35), '0'.repeat(32));
    assert.deepEqual(exporter.getFinishedSpans(), []);
  });

  it('subscribes nothing when off, and leaves no subscriber behind after close()', async () => {
    assert.deepEqual(channelsWithSubscribers(), []);
    const traces = tracing({ exporter: new InMemorySpanExporter(), export: 'simple' });
    assert.ok(channelsWithSubscribers().length > 0);
    await traces.close();
    assert.deepEqual(channelsWithSubscribers(), []);
  });

  it('subscribes nothing when OTEL_SDK_DISABLED is true', async (t) => {
    process.env.OTEL_SDK_DISABLED = 'true';
    t.after(() => {
      delete process.env.OTEL_SDK_DISABLED;
    });
    const traces = tracing({ exporter: new InMemorySpanExporter(), export: 'simple' });
    assert.deepEqual(channelsWithSubscribers(), []);
    await traces.close();
  });

  it('picks the sampler OTEL_TRACES_SAMPLER names, parent-based always-on by default', () => {
    assert.match(samplerFromEnv({}).toString(), /ParentBased\{root=AlwaysOnSampler/);
    assert.equal(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_off' }).toString(), 'AlwaysOffSampler');
    assert.equal(
      samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }).toString(),
      'TraceIdRatioBased{0.25}',
    );
    assert.throws(() => tracing({ export: 'sometimes' as never }), /tracing\.export/);
  });
});
