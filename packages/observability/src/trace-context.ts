import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

const propagator = new W3CTraceContextPropagator();

/** Metadata as text: gRPC binary values are not trace context. */
type TextCarrier = Readonly<Record<string, unknown>> | undefined;

/** The OpenTelemetry context of the `traceparent` / `tracestate` in `metadata`, or the root context. */
export function contextFrom(metadata: TextCarrier): Context {
  if (metadata === undefined || typeof metadata.traceparent !== 'string') return ROOT_CONTEXT;
  const carrier: Record<string, string> = { traceparent: metadata.traceparent };
  if (typeof metadata.tracestate === 'string') carrier.tracestate = metadata.tracestate;
  return propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
}

/** Writes `span`'s `traceparent` (and `tracestate`) into `metadata`, replacing what was there. */
export function injectInto(metadata: Record<string, string>, span: Span): void {
  delete metadata.tracestate;
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), metadata, defaultTextMapSetter);
}
