import {
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
  type SpanKind,
  type SpanStatus,
  SpanStatusCode,
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
}

/**
 * A recorded span of one exchange, as exporters read it. Attributes are written by the subscriber
 * that built them (valid keys and values by construction), so nothing is validated or copied on the
 * way; times are the wall clock at start (milliseconds) plus the monotonic clock's elapsed time, as the
 * SDK's own spans do.
 */
export class RecordedSpan extends OpenSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly attributes: Attributes;
  readonly startTime: HrTime;
  endTime: HrTime = [0, 0];
  duration: HrTime = [-1, -1];
  status: SpanStatus = unset;
  ended = false;
  readonly links: Link[] = noLinks;
  readonly events: TimedEvent[] = noEvents;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  readonly #sink: SpanSink;
  readonly #startedAt: number;

  constructor(
    sink: SpanSink,
    name: string,
    kind: SpanKind,
    context: SpanContext,
    parent: SpanContext | undefined,
    attributes: Attributes,
  ) {
    super(context);
    this.name = name;
    this.kind = kind;
    this.parentSpanContext = parent;
    this.attributes = attributes;
    this.#sink = sink;
    this.resource = sink.resource;
    this.instrumentationScope = sink.scope;
    this.startTime = millisToHrTime(Date.now());
    this.#startedAt = performance.now();
  }

  spanContext(): SpanContext {
    return this.ids;
  }

  /** Marks the span failed with `message`. */
  fail(message: string): void {
    this.status = { code: SpanStatusCode.ERROR, message };
  }

  /** Ends the span and hands it to the processor; later calls do nothing. */
  end(): void {
    if (this.ended) return;
    this.duration = millisToHrTime(performance.now() - this.#startedAt);
    this.endTime = addHrTimes(this.startTime, this.duration);
    this.ended = true;
    this.#sink.processor.onEnd(this);
  }
}
