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
  type AttributeValue,
  type Context,
  ROOT_CONTEXT,
  SpanKind,
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
import type { OpenSpan } from './open-span.ts';
import { grpcStatusOf, httpStatusOf, outcomeOf } from './outcome.ts';
import { RandomHexIds } from './random-ids.ts';
import { RecordedSpan, SpanClock } from './recorded-span.ts';
import { samplerFromEnv } from './sampler-from-env.ts';
import { SpanSource } from './span-source.ts';
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
  /**
   * The provider that owns the span processor and exporter (not registered globally). The subscriber's
   * spans go through that processor but are not made by the provider's tracer: see {@link tracing}.
   */
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
 * Spans are started as the SDK's tracer would (the sampler decides, children keep the parent's trace
 * and `tracestate`) but without its per-span work this subscriber has no use for: attributes are built
 * valid and stored as they are (no second validation and copy), no `Context` is made per span, ids are
 * cut from a pool of random bytes, and a finished span goes straight to the processor (batch: 2,048
 * queued, 512 per export, every 5 s; the SDK's defaults).
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
  const sampler = options.sampler ?? samplerFromEnv();
  const processor =
    mode === 'simple' ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter });
  const idGenerator = new RandomHexIds();
  const provider = new TracerProvider({ resource, sampler, idGenerator, spanProcessors: [processor] });
  const subs = new Subscriptions();
  if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true') {
    const sink = { processor, resource, scope: { name: scopeName }, clock: new SpanClock() };
    subscribe(subs, new SpanSource(sink, sampler, idGenerator));
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

/**
 * Where a span is kept: in the metadata its `traceparent` was written into, under this symbol. The
 * exchange's end finds it there, and so does the next hop in the same process (an attempt under its
 * call, a handler's calls under its request), whose context carries that metadata or a copy of it (a
 * spread copies the symbol), instead of parsing the header again. A string map by `traceparent` cost
 * a hash of the header per span, a map by event a hash per event. Symbols are not headers: transports
 * write only the string-named entries. One symbol for every subscriber, so metadata records keep one
 * shape however many `tracing()` a process starts and stops; each subscriber finds its own span by
 * {@link OpenSpan.owner}.
 */
const spanKey: unique symbol = Symbol('meshkit.span');
type Carrier = { [spanKey]?: OpenSpan };

/** The instrumentation scope of every span this subscriber makes. */
const scopeName = '@meshkit/observability';

function subscribe(subs: Subscriptions, spans: SpanSource): void {
  const names = new SpanNames();
  /** This subscriber's span in `metadata`, if it wrote one. */
  const ownSpan = (metadata: Readonly<Record<string, unknown>>): OpenSpan | undefined => {
    let span = (metadata as Carrier)[spanKey];
    while (span !== undefined && span.owner !== spans) span = span.shadowed;
    return span;
  };
  const parentOf = (metadata: Readonly<Record<string, unknown>> | undefined): Context => {
    if (metadata === undefined) return ROOT_CONTEXT;
    const last = (metadata as Carrier)[spanKey];
    // Only while the metadata still says what the last subscriber wrote: a layer may have replaced
    // the header since. Then this subscriber's own span, wherever it is in the list.
    if (
      last !== undefined &&
      last.traceparent === metadata.traceparent &&
      last.tracestate === metadata.tracestate
    ) {
      const own = ownSpan(metadata);
      if (own !== undefined) return own;
    }
    return contextFrom(metadata);
  };
  const start = (
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    parent: Context,
    metadata: Record<string, string>,
  ): void => {
    const span = spans.start(name, kind, attributes, parent);
    span.traceparent = injectInto(metadata, span);
    span.tracestate = metadata.tracestate;
    span.shadowed = (metadata as Carrier)[spanKey];
    (metadata as Carrier)[spanKey] = span;
  };
  /**
   * Ends the span written into `metadata`, with one more attribute when `key` is given; `failed` marks
   * it an error.
   */
  const end = (
    metadata: Record<string, string>,
    error: unknown,
    failed: boolean,
    key: string | undefined,
    value: AttributeValue | undefined,
  ): void => {
    const span = ownSpan(metadata);
    // Started before this subscriber was, already ended, or dropped by the sampler (it only carried
    // the trace on).
    if (!(span instanceof RecordedSpan) || span.ended) return;
    if (key !== undefined) span.attributes[key] = value;
    if (failed) {
      const type = errorType(error);
      span.attributes['error.type'] = type;
      span.fail(error instanceof Error ? error.message : type);
    }
    span.end();
  };

  subs.on(exchangeChannels.clientCallStart, (e: ClientCallEvent) => {
    start(
      names.of(e.method, e.route),
      SpanKind.INTERNAL,
      { 'meshkit.service': e.service },
      parentOf(e.ctx.metadata),
      e.metadata,
    );
  });
  subs.on(exchangeChannels.clientCallEnd, (e: ClientCallEvent) => {
    end(e.metadata, e.error, e.error !== undefined, 'meshkit.outcome', outcomeOf(e.error));
  });
  const endpoints = new WeakMap<object, { readonly host: string; readonly port: number | undefined }>();
  subs.on(exchangeChannels.clientAttemptStart, (e: ClientAttemptEvent) => {
    let where = endpoints.get(e.endpoint);
    if (where === undefined) {
      const [host, port] = splitAddress(e.endpoint.address);
      where = { host, port };
      endpoints.set(e.endpoint, where);
    }
    let attributes: Attributes;
    if (e.protocol !== 'grpc' && where.port !== undefined && e.route !== undefined && e.attempt === 1) {
      // The usual first HTTP attempt in one literal: its attributes in the object, not in a property
      // array grown key by key (a span lives until its batch is exported).
      attributes = {
        'server.address': where.host,
        'meshkit.endpoint': e.endpoint.id,
        'server.port': where.port,
        'meshkit.attempt_kind': e.kind,
        'http.request.method': e.method,
        'url.template': e.route,
      };
      start(names.of(e.method, e.route), SpanKind.CLIENT, attributes, parentOf(e.ctx.metadata), e.metadata);
      return;
    }
    attributes = {
      'server.address': where.host,
      'meshkit.endpoint': e.endpoint.id,
    };
    if (where.port !== undefined) attributes['server.port'] = where.port;
    attributes['meshkit.attempt_kind'] = e.kind;
    if (e.protocol === 'grpc') {
      const [service = '', method = ''] = e.method.split('/');
      attributes['rpc.system'] = 'grpc';
      attributes['rpc.service'] = service;
      attributes['rpc.method'] = method;
      if (e.attempt > 1) attributes['meshkit.attempt'] = e.attempt;
    } else {
      attributes['http.request.method'] = e.method;
      if (e.route !== undefined) attributes['url.template'] = e.route;
      if (e.attempt > 1) attributes['http.request.resend_count'] = e.attempt - 1;
    }
    start(names.of(e.method, e.route), SpanKind.CLIENT, attributes, parentOf(e.ctx.metadata), e.metadata);
  });
  subs.on(exchangeChannels.clientAttemptEnd, (e: ClientAttemptEvent) => {
    if (e.protocol === 'grpc') {
      end(e.metadata, e.error, e.error !== undefined, 'rpc.grpc.status_code', grpcStatusOf(e.error));
    } else {
      const status = httpStatusOf(e.result, e.error);
      end(
        e.metadata,
        e.error,
        e.error !== undefined,
        status === undefined ? undefined : 'http.response.status_code',
        status,
      );
    }
  });
  subs.on(exchangeChannels.serverRequestStart, (e: ServerRequestEvent) => {
    const attributes: Attributes = { 'meshkit.service': e.service };
    if (e.protocol === 'grpc') {
      const [service = '', method = ''] = e.method.split('/');
      attributes['rpc.system'] = 'grpc';
      attributes['rpc.service'] = service;
      attributes['rpc.method'] = method;
    } else {
      attributes['http.request.method'] = e.method;
      if (e.route !== undefined) attributes['http.route'] = e.route;
    }
    if (e.requestId !== undefined) attributes['meshkit.request_id'] = e.requestId;
    start(names.of(e.method, e.route), SpanKind.SERVER, attributes, parentOf(e.metadata), e.metadata);
  });
  subs.on(exchangeChannels.serverRequestEnd, (e: ServerRequestEvent) => {
    const status = e.status ?? 0;
    if (e.protocol === 'grpc') end(e.metadata, e.error, status !== 0, 'rpc.grpc.status_code', status);
    else end(e.metadata, e.error ?? `http ${status}`, status >= 500, 'http.response.status_code', status);
  });
  subs.on(messagingChannels.publishStart, (e: PublishEvent) => {
    start(
      `publish ${e.topic}`,
      SpanKind.PRODUCER,
      { 'messaging.operation.type': 'send', 'messaging.destination.name': e.topic },
      parentOf(e.ctx?.metadata),
      e.metadata,
    );
  });
  subs.on(messagingChannels.publishEnd, (e: PublishEvent) => {
    end(
      e.metadata,
      e.error,
      e.error !== undefined,
      e.id === undefined ? undefined : 'messaging.message.id',
      e.id,
    );
  });
  subs.on(messagingChannels.processStart, (e: ProcessEvent) => {
    const attributes: Attributes = {
      'messaging.operation.type': 'process',
      'messaging.destination.name': e.topic,
      'messaging.consumer.group.name': e.group,
      'messaging.message.id': e.id,
      'meshkit.attempt': e.attempt,
    };
    if (e.deliveryCount !== undefined) attributes['messaging.message.delivery_count'] = e.deliveryCount;
    start(`process ${e.topic}`, SpanKind.CONSUMER, attributes, parentOf(e.metadata), e.metadata);
  });
  subs.on(messagingChannels.processEnd, (e: ProcessEvent) => {
    const failed = e.settlement !== 'ack';
    end(e.metadata, e.error ?? e.settlement, failed, 'meshkit.settlement', e.settlement ?? 'error');
  });
}

/**
 * Low-cardinality span names: `GET /users/:id`, `GET`, `user.UserService/Get`. The last one made is
 * kept: a call and its attempt are named alike, and a run of calls alike too, so most spans take a
 * name already made instead of concatenating one.
 */
class SpanNames {
  #method = '';
  #route: string | undefined;
  #name = '';

  of(method: string, route: string | undefined): string {
    if (method === this.#method && route === this.#route && this.#name !== '') return this.#name;
    const name = method.includes('/') || route === undefined ? method : `${method} ${route}`;
    this.#method = method;
    this.#route = route;
    this.#name = name;
    return name;
  }
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
