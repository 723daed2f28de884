import { type CallContext, metadataText } from '@meshkit/core';
import type { OutboxEvent } from '@meshkit/messaging';
import type { User, UserStatusName } from './user.ts';

/** What happened to a user. */
export type UserChange = 'created' | 'updated' | 'deleted';

/** The `type` field of an event's data, as the seed's consumers read it. */
export type UserEventType = 'USER_CREATED' | 'USER_UPDATED' | 'USER_DELETED';

/**
 * The JSON data of every user event, exactly as the seed's pika and Kafka consumers read it: `id` and
 * `user_id` are both the user's id, `timestamp` is epoch milliseconds.
 */
export interface UserEventData {
  readonly id: string;
  readonly user_id: string;
  readonly type: UserEventType;
  readonly email: string;
  readonly name: string;
  readonly status: UserStatusName;
  readonly timestamp: number;
}

const eventTypes: Readonly<Record<UserChange, UserEventType>> = {
  created: 'USER_CREATED',
  updated: 'USER_UPDATED',
  deleted: 'USER_DELETED',
};

/**
 * Where events go. By default each change has its own topic, `user.created` / `user.updated` /
 * `user.deleted` (routing keys on the `events` exchange with RabbitMQ and the embedded broker). With a
 * single `topic` (the seed's Kafka topic `user-events`) every event goes there, keyed by user id, and
 * consumers tell changes apart by `type`.
 */
export interface EventRouting {
  readonly topic?: string | undefined;
}

/** The topic an event of `change` is published to. */
export function topicFor(change: UserChange, routing: EventRouting): string {
  return routing.topic ?? `user.${change}`;
}

/** The topics or patterns a subscriber to every user event binds. */
export function topicPatterns(routing: EventRouting): string[] {
  return routing.topic === undefined ? ['user.*'] : [routing.topic];
}

/**
 * The trace context of the request that made a change (`traceparent`, `tracestate`), kept with its outbox
 * row so the event is published in the same trace when the relay sends it later. `undefined` without one.
 */
export type TraceHeaders = Readonly<Record<string, string>> | undefined;

/** The {@link TraceHeaders} of a request's context. */
export function traceHeadersOf(ctx: CallContext | undefined): TraceHeaders {
  const traceparent = metadataText(ctx?.metadata, 'traceparent');
  if (traceparent === undefined) return undefined;
  const tracestate = metadataText(ctx?.metadata, 'tracestate');
  return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
}

/** The outbox event for `change` of `user` at `nowMs`: topic by change, key = user id, the request's trace. */
export function userEvent(
  change: UserChange,
  user: User,
  nowMs: number,
  routing: EventRouting,
  trace?: TraceHeaders,
): OutboxEvent {
  const data: UserEventData = {
    id: user.id,
    user_id: user.id,
    type: eventTypes[change],
    email: user.email,
    name: user.name,
    status: user.status,
    timestamp: nowMs,
  };
  return trace === undefined
    ? { topic: topicFor(change, routing), key: user.id, data }
    : { topic: topicFor(change, routing), key: user.id, data, headers: trace };
}

/** Reads event data back from a consumed message; `undefined` when it is not a user event. */
export function readUserEvent(data: unknown): UserEventData | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  if (typeof d.user_id !== 'string' || typeof d.timestamp !== 'number') return undefined;
  if (d.type !== 'USER_CREATED' && d.type !== 'USER_UPDATED' && d.type !== 'USER_DELETED') return undefined;
  return d as unknown as UserEventData;
}
