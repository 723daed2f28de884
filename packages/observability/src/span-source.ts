import {
  type Attributes,
  type Context,
  type Link,
  SamplingDecision,
  type SpanContext,
  type SpanKind,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import type { IdGenerator, Sampler } from '@opentelemetry/sdk-trace';
import { OpenSpan } from './open-span.ts';
import { RecordedSpan, type SpanSink } from './recorded-span.ts';

const noLinks: Link[] = [];

/**
 * Starts spans the way the SDK's tracer does (the sampler decides, a child continues its parent's
 * trace and `tracestate`, the sampler's attributes and `tracestate` are kept) without what this
 * subscriber does not use: no attribute validation or copying (the subscriber builds valid attributes),
 * no links, no active-context lookup, no span processor `onStart` (the batch and simple processors do
 * nothing there), no SDK self-metrics.
 */
export class SpanSource {
  readonly #sink: SpanSink;
  readonly #sampler: Sampler;
  readonly #ids: IdGenerator;

  constructor(sink: SpanSink, sampler: Sampler, ids: IdGenerator) {
    this.#sink = sink;
    this.#sampler = sampler;
    this.#ids = ids;
  }

  /**
   * Starts a span under `parent` (an open span, a remote context from a `traceparent`, or
   * `ROOT_CONTEXT`); `attributes` becomes the span's own attribute record.
   */
  start(name: string, kind: SpanKind, attributes: Attributes, parent: Context): OpenSpan {
    // An open span of this process is valid by construction; a remote one is checked.
    let parentContext: SpanContext | undefined;
    if (parent instanceof OpenSpan) parentContext = parent;
    else {
      const remote = trace.getSpanContext(parent);
      if (remote !== undefined && trace.isSpanContextValid(remote)) parentContext = remote;
    }
    const traceId = parentContext?.traceId ?? this.#ids.generateTraceId();
    const spanId = this.#ids.generateSpanId();
    const sampled = this.#sampler.shouldSample(parent, traceId, name, kind, attributes, noLinks);
    const flags =
      sampled.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE;
    const state = sampled.traceState ?? parentContext?.traceState;
    if (sampled.decision === SamplingDecision.NOT_RECORD) {
      return new OpenSpan(traceId, spanId, flags, state, this);
    }
    if (sampled.attributes !== undefined) Object.assign(attributes, sampled.attributes);
    return new RecordedSpan(
      this,
      this.#sink,
      name,
      kind,
      traceId,
      spanId,
      flags,
      state,
      parentContext,
      attributes,
    );
  }
}
