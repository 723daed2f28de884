import { type Context, defaultTextMapGetter, ROOT_CONTEXT, type SpanContext } from '@opentelemetry/api';
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

/** Hex digits of a `traceparent`'s trace flags, by value. */
const flagDigits = Array.from({ length: 256 }, (_, flags) => flags.toString(16).padStart(2, '0'));

/**
 * Writes the `traceparent` of `context` (and `tracestate`, when it has one) into `metadata`, replacing
 * what was there; returns the `traceparent`. Formatted here rather than by the propagator: it runs
 * twice per call.
 */
export function injectInto(metadata: Record<string, string>, context: SpanContext): string {
  const flags = context.traceFlags & 0xff;
  const traceparent = `00-${context.traceId}-${context.spanId}-${flagDigits[flags]}`;
  metadata.traceparent = traceparent;
  const state = context.traceState?.serialize();
  if (state !== undefined && state !== '') metadata.tracestate = state;
  // Only when present: a delete turns the record into a slow dictionary.
  else if (metadata.tracestate !== undefined) delete metadata.tracestate;
  return traceparent;
}
