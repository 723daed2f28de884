import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createContextKey,
  createTraceState,
  isSpanContextValid,
  SpanKind,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { AlwaysOffSampler, ParentBasedSampler, SamplingDecision } from '@opentelemetry/sdk-trace';
import { OpenSpan } from './open-span.ts';

const traceId = '0af7651916cd43dd8448eb211c80319c';
const spanId = 'b7ad6b7169203331';

describe('OpenSpan', () => {
  it('is its own span context', () => {
    const state = createTraceState('vendor=1');
    const span = new OpenSpan(traceId, spanId, TraceFlags.SAMPLED, state, {});
    assert.ok(isSpanContextValid(span));
    assert.equal(span.traceState, state);
  });

  it('gives a parent-based sampler its span as the parent, whatever the sampled flag says', () => {
    const sampler = new ParentBasedSampler({ root: new AlwaysOffSampler() });
    const sampled = new OpenSpan(traceId, spanId, TraceFlags.SAMPLED, undefined, {});
    const dropped = new OpenSpan(traceId, spanId, TraceFlags.NONE, undefined, {});
    const decide = (parent: OpenSpan) =>
      sampler.shouldSample(parent, traceId, 'GET /x', SpanKind.CLIENT, {}, []).decision;
    assert.equal(decide(sampled), SamplingDecision.RECORD_AND_SAMPLED);
    assert.equal(decide(dropped), SamplingDecision.NOT_RECORD);
    const view = trace.getSpan(sampled);
    assert.equal(view, trace.getSpan(sampled), 'one view per span');
    assert.equal(view?.isRecording(), false);
    assert.deepEqual({ ...view?.spanContext() }, { ...sampled }, 'the view reads the span itself');
  });

  it('reads nothing under other keys, and builds a full context once written to', () => {
    const span = new OpenSpan(traceId, spanId, TraceFlags.SAMPLED, undefined, {});
    const key = createContextKey('meshkit test key');
    assert.equal(span.getValue(key), undefined);
    const written = span.setValue(key, 42);
    assert.equal(written.getValue(key), 42);
    assert.equal(trace.getSpanContext(written)?.spanId, spanId);
    assert.equal(span.getValue(key), undefined, 'the span itself is unchanged');
    const without = span.deleteValue(createContextKey('OpenTelemetry Context Key SPAN'));
    assert.equal(trace.getSpan(without), undefined);
  });
});
