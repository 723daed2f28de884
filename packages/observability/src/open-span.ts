import {
  type Context,
  createContextKey,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  type TraceState,
  trace,
} from '@opentelemetry/api';

/** The key under which a `Context` holds its span (the API's own: `createContextKey` is `Symbol.for`). */
const spanKey = createContextKey('OpenTelemetry Context Key SPAN');

/**
 * A span this process started, as the parent of the next one. It is its own `SpanContext` (its ids,
 * flags and `tracestate`; one object fewer per span) and its own `Context` for the sampler: a
 * parent-based sampler reads the span under the API's span key, which is a `NonRecordingSpan` of
 * the span made on the first read (one object; the SDK's `Context` was three: the wrapper, the
 * context, its map); any other key reads nothing, as in a context holding only the
 * span. Writing a value builds the full `Context` once. A span the sampler dropped is only this; a
 * recorded one is a {@link RecordedSpan} too.
 */
export class OpenSpan implements Context, SpanContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly traceState: TraceState | undefined;
  /** What started it: the {@link SpanSource} of one `tracing()`. */
  readonly owner: object;
  /**
   * The span another subscriber had written into the same metadata before this one, if any: each
   * finds its own down this list.
   */
  shadowed: OpenSpan | undefined;
  /** The `traceparent` written with it: a child takes it as its parent only while its metadata says so. */
  traceparent: string | undefined;
  /** The `tracestate` header written with it, if any (its {@link traceState} serialized). */
  tracestate: string | undefined;
  /** The sampler's view, then the full `Context` if anything writes to it. */
  #span: Span | undefined;
  #context: Context | undefined;

  constructor(
    traceId: string,
    spanId: string,
    traceFlags: number,
    traceState: TraceState | undefined,
    owner: object,
  ) {
    this.traceId = traceId;
    this.spanId = spanId;
    this.traceFlags = traceFlags;
    this.traceState = traceState;
    this.owner = owner;
  }

  /** Short, for metadata logged with the span in it. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `OpenSpan ${this.traceparent ?? ''}`;
  }

  #built(): Context {
    this.#span ??= trace.wrapSpanContext(this);
    this.#context ??= trace.setSpan(ROOT_CONTEXT, this.#span);
    return this.#context;
  }

  getValue(key: symbol): unknown {
    if (key !== spanKey) return this.#context?.getValue(key);
    this.#span ??= trace.wrapSpanContext(this);
    return this.#span;
  }

  setValue(key: symbol, value: unknown): Context {
    return this.#built().setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    return this.#built().deleteValue(key);
  }
}
