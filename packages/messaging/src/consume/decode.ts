import { type CallContext, ErrorCode, type Layer, MeshError } from '@meshkit/core';
import type { Delivery } from '../broker.ts';
import { messagingChannels, type ProcessEvent } from '../channels.ts';
import { type Codec, type StandardSchemaV1, validate } from '../codec.ts';
import { decodeAttributes, headerNames } from '../envelope.ts';
import { type Message, parseAttempt } from './message.ts';
import { deadLetterFor, type Settlement } from './settlement.ts';

/** Options of {@link decodeLayer}. */
export interface DecodeOptions<T> {
  /** The consumer group, for observers. */
  readonly group: string;
  readonly codec: Codec;
  readonly schema: StandardSchemaV1<unknown, T> | undefined;
}

/**
 * Turns a broker delivery into the {@link Message} and context the handler sees: the CloudEvents
 * attributes, the body through the codec (and the schema, when given), and a context carrying the
 * attempt, the `meshkit-deadline` and the trace headers. A record that is not a CloudEvent or cannot be
 * decoded is dead-lettered (`undecodable`); data the schema refuses too (`invalid-payload`).
 */
export function decodeLayer<T>(
  options: DecodeOptions<T>,
): Layer<Delivery, Settlement, Message<T>, Settlement> {
  const { codec, schema, group } = options;
  return {
    name: 'decode',
    wrap: (next) => (delivery, ctx) => {
      const attrs = decodeAttributes(delivery.headers);
      if ('missing' in attrs) {
        const error = new MeshError(ErrorCode.INVALID_PAYLOAD, `not a CloudEvent: missing ${attrs.missing}`);
        return Promise.resolve(deadLetterFor('undecodable', error));
      }
      let data: unknown;
      try {
        data = codec.decode(delivery.body);
      } catch (cause) {
        const text = cause instanceof Error ? cause.message : String(cause);
        const error = new MeshError(ErrorCode.INVALID_PAYLOAD, `cannot decode body: ${text}`, { cause });
        return Promise.resolve(deadLetterFor('undecodable', error));
      }
      const attempt = parseAttempt(delivery.headers[headerNames.attempt]);
      let handlerCtx = contextFor(delivery, attempt, ctx);
      const observed =
        messagingChannels.processStart.hasSubscribers || messagingChannels.processEnd.hasSubscribers
          ? observeProcess(group, delivery, attrs.id, attempt, handlerCtx)
          : undefined;
      if (observed !== undefined) handlerCtx = observed.ctx;
      const message = (value: unknown): Message<T> => ({
        id: attrs.id,
        topic: delivery.topic,
        key: delivery.key,
        source: attrs.source,
        type: attrs.type,
        time: attrs.time,
        subject: attrs.subject,
        data: value as T,
        headers: delivery.headers,
        attempt,
        deliveryCount: delivery.deliveryCount,
      });
      const settled =
        schema === undefined
          ? next(message(data), handlerCtx)
          : validate(schema, data).then(
              (valid) => next(message(valid), handlerCtx),
              (error: unknown) => deadLetterFor('invalid-payload', error),
            );
      return observed === undefined ? settled : observed.end(settled);
    },
    describe: () => ({ contentType: codec.contentType, schema: schema !== undefined }),
  };
}

/** The handler's context: the attempt, the message's deadline, and its trace context as metadata. */
function contextFor(delivery: Delivery, attempt: number, ctx: CallContext): CallContext {
  const headers = delivery.headers;
  const metadata: Record<string, string> = {};
  const traceparent = headers[headerNames.traceparent];
  if (traceparent !== undefined) metadata.traceparent = traceparent;
  const tracestate = headers[headerNames.tracestate];
  if (tracestate !== undefined) metadata.tracestate = tracestate;
  const deadlineHeader = headers[headerNames.deadline];
  const deadline = deadlineHeader === undefined ? undefined : Number(deadlineHeader);
  return ctx.with({
    attempt,
    metadata,
    deadline: deadline !== undefined && Number.isFinite(deadline) ? deadline : undefined,
  });
}

/** Publishes a delivery's handling on `meshkit:messaging:process-*`; the start may rewrite trace metadata. */
function observeProcess(
  group: string,
  delivery: Delivery,
  id: string,
  attempt: number,
  ctx: CallContext,
): { readonly ctx: CallContext; end(settled: Promise<Settlement>): Promise<Settlement> } {
  const metadata: Record<string, string> = {};
  for (const key of ['traceparent', 'tracestate'] as const) {
    const value = delivery.headers[headerNames[key]];
    if (value !== undefined) metadata[key] = value;
  }
  const event: ProcessEvent = {
    group,
    topic: delivery.topic,
    id,
    attempt,
    deliveryCount: delivery.deliveryCount,
    metadata,
    durationMs: Number.NaN,
  };
  const clock = ctx.clock;
  const start = clock.now();
  if (messagingChannels.processStart.hasSubscribers) messagingChannels.processStart.publish(event);
  const report = (): void => {
    event.durationMs = clock.now() - start;
    if (messagingChannels.processEnd.hasSubscribers) messagingChannels.processEnd.publish(event);
  };
  return {
    ctx: ctx.with({ metadata: event.metadata }),
    end: (settled) =>
      settled.then(
        (settlement) => {
          event.settlement = settlement.kind;
          if ('error' in settlement) event.error = settlement.error;
          report();
          return settlement;
        },
        (error: unknown) => {
          event.error = error;
          report();
          throw error;
        },
      ),
  };
}
