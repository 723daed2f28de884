import { type Context, ROOT_CONTEXT, type SpanContext, trace } from '@opentelemetry/api';

/**
 * A span this process started, as the parent of the next one: its ids, the `traceparent` and
 * `tracestate` written with it, and the sampler's `Context` built lazily (an always-on sampler never
 * reads it, a parent-based one reads the span once). A span the sampler dropped is only this; a
 * recorded one is a {@link RecordedSpan} too.
 */
export class OpenSpan implements Context {
  readonly ids: SpanContext;
  /** What started it: the {@link SpanSource} of one `tracing()`. */
  readonly owner: object;
  /**
   * The span another subscriber had written into the same metadata before this one, if any: each
   * finds its own down this list.
   */
  shadowed: OpenSpan | undefined;
  /** The `traceparent` written with it: a child takes it as its parent only while its metadata says so. */
  traceparent: string | undefined;
  /** The `tracestate` written with it, if any. */
  tracestate: string | undefined;
  #context: Context | undefined;

  constructor(ids: SpanContext, owner: object) {
    this.ids = ids;
    this.owner = owner;
  }

  /** Short, for metadata logged with the span in it. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `OpenSpan ${this.traceparent ?? ''}`;
  }

  #built(): Context {
    this.#context ??= trace.setSpanContext(ROOT_CONTEXT, this.ids);
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
