import {
  type ClientAttemptEvent,
  type ClientCallEvent,
  exchangeChannels,
  InvalidArgumentError,
  type ServerRequestEvent,
} from '@meshkit/core';
import { messagingChannels, type ProcessEvent, type PublishEvent } from '@meshkit/messaging';
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  type Sampler,
  SimpleSpanProcessor,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { grpcStatusOf, httpStatusOf, outcomeOf } from './outcome.ts';
import { samplerFromEnv } from './sampler-from-env.ts';
import { Subscriptions } from './subscriptions.ts';
import { contextFrom, injectInto } from './trace-context.ts';

/** Options of {@link tracing}. */
export interface TracingOptions {
  /**
   * Where spans go. Defaults to an OTLP/HTTP exporter configured by the standard variables
   * (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, ...).
   */
  readonly exporter?: SpanExporter;
  /** Which traces to record. Defaults to the one `OTEL_TRACES_SAMPLER` names (`parentbased_always_on`). */
  readonly sampler?: Sampler;
  /**
   * `'batch'` exports in the background (production); `'simple'` exports each span as it ends (tests,
   * scripts). Defaults to `'batch'`.
   */
  readonly export?: 'batch' | 'simple';
  /** The `service.name` resource attribute. Defaults to `OTEL_SERVICE_NAME`, else the SDK's default. */
  readonly serviceName?: string;
}

/** A running tracing subscriber. */
export interface Tracing {
  /** The provider spans are made by (not registered globally). */
  readonly provider: TracerProvider;
  /** Exports what is pending. */
  flush(): Promise<void>;
  /** Unsubscribes from every channel, then flushes and shuts the provider down. */
  close(): Promise<void>;
}

/**
 * OpenTelemetry spans from meshkit's diagnostics channels: one span per logical client call with its
 * attempts (first, retries, hedges) as child `CLIENT` spans, a `SERVER` span per request served, a
 * `PRODUCER` span per event published and a `CONSUMER` span per delivery handled. Spans are linked
 * across hops by W3C `traceparent`: the subscriber writes each span's context into the metadata the
 * publisher sends on (HTTP headers, gRPC metadata, message headers) or hands to the handler, so a
 * handler's own calls continue its trace. Nothing is subscribed until this is called, so tracing off
 * costs nothing; `OTEL_SDK_DISABLED=true` turns it off too.
 *
 * @example
 * ```ts
 * const traces = tracing({ serviceName: 'user-service' });
 * process.once('SIGTERM', () => void traces.close());
 * ```
 */
export function tracing(options: TracingOptions = {}): Tracing {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('tracing', 'options must be an object', options);
  }
  const mode = options.export ?? 'batch';
  if (mode !== 'batch' && mode !== 'simple') {
    throw new InvalidArgumentError('tracing.export', "must be 'batch' or 'simple'", mode);
  }
  const exporter = options.exporter ?? new OTLPTraceExporter();
  const serviceName = options.serviceName ?? process.env.OTEL_SERVICE_NAME;
  const resource =
    serviceName === undefined
      ? defaultResource()
      : defaultResource().merge(resourceFromAttributes({ 'service.name': serviceName }));
  const provider = new TracerProvider({
    resource,
    sampler: options.sampler ?? samplerFromEnv(),
    spanProcessors: [
      mode === 'simple' ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter }),
    ],
  });
  const subs = new Subscriptions();
  if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true') {
    subscribe(subs, provider.getTracer('@meshkit/observability'));
  }
  return {
    provider,
    flush: () => provider.forceFlush(),
    close: async () => {
      subs.close();
      await provider.shutdown();
    },
  };
}

function subscribe(subs: Subscriptions, tracer: Tracer): void {
  /** Each open exchange's span and the `traceparent` it was sent with. */
  const spans = new WeakMap<object, { readonly span: Span; readonly traceparent: string | undefined }>();
  /**
   * The contexts of this process's open spans by the `traceparent` they were sent with: the next hop
   * in the same process (an attempt under its call, a handler's calls under its request) finds its
   * parent here instead of parsing the header again.
   */
  const open = new Map<string, Context>();
  const parentOf = (metadata: Readonly<Record<string, unknown>> | undefined): Context => {
    const traceparent = metadata?.traceparent;
    if (typeof traceparent === 'string' && metadata?.tracestate === undefined) {
      const known = open.get(traceparent);
      if (known !== undefined) return known;
    }
    return contextFrom(metadata);
  };
  const start = (event: object, span: Span, metadata: Record<string, string>): void => {
    const traceparent = injectInto(metadata, span);
    if (metadata.tracestate === undefined) {
      open.set(traceparent, trace.setSpan(ROOT_CONTEXT, span));
      spans.set(event, { span, traceparent });
    } else {
      spans.set(event, { span, traceparent: undefined });
    }
  };
  const end = (event: object, error: unknown, attributes: Attributes, failed: boolean): void => {
    const entry = spans.get(event);
    if (entry === undefined) return;
    spans.delete(event);
    const { span, traceparent } = entry;
    if (traceparent !== undefined) open.delete(traceparent);
    span.setAttributes(attributes);
    if (failed) {
      const type = errorType(error);
      span.setAttribute('error.type', type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : type });
    }
    span.end();
  };

  subs.on(exchangeChannels.clientCallStart, (e: ClientCallEvent) => {
    const span = tracer.startSpan(
      spanName(e.method, e.route),
      { kind: SpanKind.INTERNAL, attributes: { 'meshkit.service': e.service } },
      parentOf(e.ctx.metadata),
    );
    start(e, span, e.metadata);
  });
  subs.on(exchangeChannels.clientCallEnd, (e: ClientCallEvent) => {
    end(e, e.error, { 'meshkit.outcome': outcomeOf(e.error) }, e.error !== undefined);
  });
  const endpointAttributes = new WeakMap<object, Attributes>();
  subs.on(exchangeChannels.clientAttemptStart, (e: ClientAttemptEvent) => {
    let where = endpointAttributes.get(e.endpoint);
    if (where === undefined) {
      const [host, port] = splitAddress(e.endpoint.address);
      where = {
        'server.address': host,
        'meshkit.endpoint': e.endpoint.id,
        ...(port === undefined ? {} : { 'server.port': port }),
      };
      endpointAttributes.set(e.endpoint, where);
    }
    const attributes: Attributes = { ...where, 'meshkit.attempt_kind': e.kind };
    if (e.protocol === 'grpc') {
      const [service = '', method = ''] = e.method.split('/');
      Object.assign(attributes, { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method });
    } else {
      attributes['http.request.method'] = e.method;
      if (e.route !== undefined) attributes['url.template'] = e.route;
    }
    if (e.attempt > 1) {
      if (e.protocol === 'grpc') attributes['meshkit.attempt'] = e.attempt;
      else attributes['http.request.resend_count'] = e.attempt - 1;
    }
    const span = tracer.startSpan(
      spanName(e.method, e.route),
      { kind: SpanKind.CLIENT, attributes },
      parentOf(e.ctx.metadata),
    );
    start(e, span, e.metadata);
  });
  subs.on(exchangeChannels.clientAttemptEnd, (e: ClientAttemptEvent) => {
    if (e.protocol === 'grpc') {
      end(e, e.error, { 'rpc.grpc.status_code': grpcStatusOf(e.error) }, e.error !== undefined);
    } else {
      const status = httpStatusOf(e.result, e.error);
      end(
        e,
        e.error,
        status === undefined ? {} : { 'http.response.status_code': status },
        e.error !== undefined,
      );
    }
  });
  subs.on(exchangeChannels.serverRequestStart, (e: ServerRequestEvent) => {
    const attributes: Attributes = { 'meshkit.service': e.service };
    if (e.protocol === 'grpc') {
      const [service = '', method = ''] = e.method.split('/');
      Object.assign(attributes, { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method });
    } else {
      attributes['http.request.method'] = e.method;
      if (e.route !== undefined) attributes['http.route'] = e.route;
    }
    if (e.requestId !== undefined) attributes['meshkit.request_id'] = e.requestId;
    const span = tracer.startSpan(
      spanName(e.method, e.route),
      { kind: SpanKind.SERVER, attributes },
      parentOf(e.metadata),
    );
    start(e, span, e.metadata);
  });
  subs.on(exchangeChannels.serverRequestEnd, (e: ServerRequestEvent) => {
    const status = e.status ?? 0;
    if (e.protocol === 'grpc') end(e, e.error, { 'rpc.grpc.status_code': status }, status !== 0);
    else end(e, e.error ?? `http ${status}`, { 'http.response.status_code': status }, status >= 500);
  });
  subs.on(messagingChannels.publishStart, (e: PublishEvent) => {
    const span = tracer.startSpan(
      `publish ${e.topic}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: { 'messaging.operation.type': 'send', 'messaging.destination.name': e.topic },
      },
      parentOf(e.ctx?.metadata),
    );
    start(e, span, e.metadata);
  });
  subs.on(messagingChannels.publishEnd, (e: PublishEvent) => {
    end(e, e.error, e.id === undefined ? {} : { 'messaging.message.id': e.id }, e.error !== undefined);
  });
  subs.on(messagingChannels.processStart, (e: ProcessEvent) => {
    const span = tracer.startSpan(
      `process ${e.topic}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.operation.type': 'process',
          'messaging.destination.name': e.topic,
          'messaging.consumer.group.name': e.group,
          'messaging.message.id': e.id,
          'meshkit.attempt': e.attempt,
          ...(e.deliveryCount === undefined ? {} : { 'messaging.message.delivery_count': e.deliveryCount }),
        },
      },
      parentOf(e.metadata),
    );
    start(e, span, e.metadata);
  });
  subs.on(messagingChannels.processEnd, (e: ProcessEvent) => {
    const failed = e.settlement !== 'ack';
    end(e, e.error ?? e.settlement, { 'meshkit.settlement': e.settlement ?? 'error' }, failed);
  });
}

/** A low-cardinality span name: `GET /users/:id`, `GET`, `user.UserService/Get`. */
function spanName(method: string, route: string | undefined): string {
  if (method.includes('/')) return method;
  return route === undefined ? method : `${method} ${route}`;
}

function splitAddress(address: string): [string, number | undefined] {
  const at = address.lastIndexOf(':');
  if (at <= 0) return [address, undefined];
  const port = Number(address.slice(at + 1));
  return Number.isInteger(port) ? [address.slice(0, at), port] : [address, undefined];
}

function errorType(error: unknown): string {
  if (typeof error === 'string') return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'error';
}
