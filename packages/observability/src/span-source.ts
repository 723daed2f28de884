import {
  type Attributes,
  type Context,
  type Link,
  ROOT_CONTEXT,
  SamplingDecision,
  type SpanContext,
  type SpanKind,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import type { IdGenerator, Sampler } from '@opentelemetry/sdk-trace';
import { RecordedSpan, type SpanSink } from './recorded-span.ts';

const noLinks: Link[] = [];

/**
 * A span this process started and has not ended, as the parent of the next one. It is the sampler's
 * `Context` too, built lazily: an always-on sampler never reads it, a parent-based one reads the span
 * once.
 */
export class OpenSpan implements Context {
  /** The span as exported, or `undefined` when the sampler did not record it. */
  readonly span: RecordedSpan | undefined;
  readonly spanContext: SpanContext;
  /** The `traceparent` it was sent with, while it is the in-process parent of that value. */
  traceparent: string | undefined;
  #context: Context | undefined;

  constructor(span: RecordedSpan | undefined, spanContext: SpanContext) {
    this.span = span;
    this.spanContext = spanContext;
  }

  #built(): Context {
    this.#context ??= trace.setSpanContext(ROOT_CONTEXT, this.spanContext);
    return this.#context;
  }

  getValue(key: symbol): unknown {
    return this.#built().getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    return this.#built().setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    return this.#built().deleteValue(key);
  }
}

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
    let valid: boolean;
    if (parent instanceof OpenSpan) {
      parentContext = parent.spanContext;
      valid = true;
    } else {
      parentContext = trace.getSpanContext(parent);
      valid = parentContext !== undefined && trace.isSpanContextValid(parentContext);
    }
    const traceId = valid ? parentContext.traceId : this.#ids.generateTraceId();
    const spanId = this.#ids.generateSpanId();
    const sampled = this.#sampler.shouldSample(parent, traceId, name, kind, attributes, noLinks);
    const spanContext: SpanContext = {
      traceId,
      spanId,
      traceFlags:
        sampled.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE,
      traceState: sampled.traceState ?? (valid ? parentContext.traceState : undefined),
    };
    if (sampled.decision === SamplingDecision.NOT_RECORD) return new OpenSpan(undefined, spanContext);
    if (sampled.attributes !== undefined) Object.assign(attributes, sampled.attributes);
    const span = new RecordedSpan(
      this.#sink,
      name,
      kind,
      spanContext,
      valid ? parentContext : undefined,
      attributes,
    );
    return new OpenSpan(span, spanContext);
  }
}
