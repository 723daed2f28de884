import {
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
  type SpanKind,
  type SpanStatus,
  SpanStatusCode,
  type TraceState,
} from '@opentelemetry/api';
import { addHrTimes, type InstrumentationScope, millisToHrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace';
import { OpenSpan } from './open-span.ts';

/** Shared by every span: these spans never carry links or events, and exporters only read them. */
const noLinks: Link[] = [];
const noEvents: TimedEvent[] = [];
const unset: SpanStatus = { code: SpanStatusCode.UNSET };

/** Where a span's finished copy goes, and what every span of one subscriber shares. */
export interface SpanSink {
  readonly processor: SpanProcessor;
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  readonly clock: SpanClock;
}

/** How often the wall clock is read again to place the monotonic clock on it, ms. */
const resyncMs = 1_000;

/**
 * The wall-clock time of a moment on the monotonic clock (`performance.now()`), from one offset
 * between the two read again every second: `Date.now()` costs several times `performance.now()`, and
 * the SDK reads both per span. An offset that moved by less than Date.now()'s millisecond is kept, so
 * spans never step back by its rounding; a larger move (the wall clock was set, the machine slept) is
 * taken.
 */
export class SpanClock {
  #offset: number;
  #checkedAt: number;

  constructor() {
    const at = performance.now();
    this.#offset = Date.now() - at;
    this.#checkedAt = at;
  }

  /** Epoch milliseconds at `at`, a `performance.now()` reading. */
  wallMs(at: number): number {
    if (at - this.#checkedAt >= resyncMs) {
      this.#checkedAt = at;
      const offset = Date.now() - at;
      if (Math.abs(offset - this.#offset) >= 1) this.#offset = offset;
    }
    return this.#offset + at;
  }
}

/**
 * A recorded span of one exchange, as exporters read it. Attributes are written by the subscriber
 * that built them (valid keys and values by construction), so nothing is validated or copied on the
 * way; times are the monotonic clock's placed on the wall clock ({@link SpanClock}), kept as numbers
 * and turned into `HrTime`s only when an exporter reads them. What every span shares (resource, scope, no links or events) is read from the sink, not copied
 * into each span: a span lives until its batch is exported, so its size is what the collector moves.
 */
export class RecordedSpan extends OpenSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly attributes: Attributes;
  status: SpanStatus;
  readonly #sink: SpanSink;
  /** Epoch milliseconds at start. */
  readonly #startWallMs: number;
  /** `performance.now()` at start. */
  readonly #startedAt: number;
  /** `performance.now()` at the end; `-1` until then. */
  #endedAt: number;

  constructor(
    owner: object,
    sink: SpanSink,
    name: string,
    kind: SpanKind,
    traceId: string,
    spanId: string,
    traceFlags: number,
    traceState: TraceState | undefined,
    parent: SpanContext | undefined,
    attributes: Attributes,
  ) {
    super(traceId, spanId, traceFlags, traceState, owner);
    this.name = name;
    this.kind = kind;
    this.parentSpanContext = parent;
    this.attributes = attributes;
    this.status = unset;
    this.#sink = sink;
    const at = performance.now();
    this.#startedAt = at;
    this.#startWallMs = sink.clock.wallMs(at);
    this.#endedAt = -1;
  }

  get startTime(): HrTime {
    return millisToHrTime(this.#startWallMs);
  }

  get endTime(): HrTime {
    return this.#endedAt < 0 ? [0, 0] : addHrTimes(this.startTime, this.duration);
  }

  get duration(): HrTime {
    return this.#endedAt < 0 ? [-1, -1] : millisToHrTime(this.#endedAt - this.#startedAt);
  }

  get ended(): boolean {
    return this.#endedAt >= 0;
  }

  get resource(): Resource {
    return this.#sink.resource;
  }

  get instrumentationScope(): InstrumentationScope {
    return this.#sink.scope;
  }

  get links(): Link[] {
    return noLinks;
  }

  get events(): TimedEvent[] {
    return noEvents;
  }

  get droppedAttributesCount(): number {
    return 0;
  }

  get droppedEventsCount(): number {
    return 0;
  }

  get droppedLinksCount(): number {
    return 0;
  }

  spanContext(): SpanContext {
    return this;
  }

  /** Marks the span failed with `message`. */
  fail(message: string): void {
    this.status = { code: SpanStatusCode.ERROR, message };
  }

  /** Ends the span and hands it to the processor; later calls do nothing. */
  end(): void {
    if (this.#endedAt >= 0) return;
    this.#endedAt = performance.now();
    this.#sink.processor.onEnd(this);
  }
}
