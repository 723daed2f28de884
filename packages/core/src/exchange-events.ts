import type { CallContext } from './context.ts';
import { type ContextKey, contextKey } from './context.ts';
import type { Endpoint } from './endpoint.ts';
import { type TypedChannel, typedChannel } from './events.ts';

/**
 * Request-level events of every transport (HTTP, gRPC), for metrics and tracing. Each exchange
 * publishes one object twice: on its `start` channel when it begins, and the same object, completed
 * with `durationMs`, `result` or `error`, on its `end` channel. A subscriber can therefore keep per-call
 * state in a `WeakMap` keyed by the event, and can add `metadata` on start (a `traceparent`, say) that
 * the publisher sends downstream or hands to the handler. Publishers check `hasSubscribers` first, so
 * an exchange nobody observes costs one property read.
 */

/** Why an attempt runs: the first try, a retry after a failure, or a hedge beside a slow attempt. */
export type AttemptKind = 'first' | 'retry' | 'hedge';

/**
 * The context slot a hedge sets on its extra attempts, so observers tell hedges from retries (an
 * attempt above 1 without it is a retry).
 */
export const attemptKindKey: ContextKey<AttemptKind> = contextKey<AttemptKind>('meshkit.attemptKind');

/** The kind of the attempt a context runs. */
export function attemptKindOf(ctx: CallContext): AttemptKind {
  if (ctx.attempt <= 1) return 'first';
  return ctx.get(attemptKindKey) ?? 'retry';
}

/** What an exchange's end adds to its event. */
export interface ExchangeEnd {
  /** Time from start to completion (a streamed result completes with its stream), ms. */
  durationMs: number;
  /** The result, on success. */
  result?: unknown;
  /** The failure, when it failed. */
  error?: unknown;
}

/** One logical client call (every retry and hedge included), published by `clientStack`. */
export interface ClientCallEvent extends ExchangeEnd {
  /** `'http'` or `'grpc'`. */
  readonly protocol: string;
  /** The downstream service's name. */
  readonly service: string;
  /** The HTTP method, or the gRPC method as `package.Service/Method`. */
  readonly method: string;
  /** A route template (`/users/:id`) when the caller named one; never a raw path. */
  readonly route: string | undefined;
  /** The caller's context. */
  readonly ctx: CallContext;
  /**
   * Metadata a start subscriber adds; merged over the context's for this call and its attempts (kept
   * as it is when it replaces every name the context has, so it must not change after the start).
   */
  readonly metadata: Record<string, string>;
}

/** One attempt on one endpoint, published by `clientStack` just above the transport. */
export interface ClientAttemptEvent extends ExchangeEnd {
  readonly protocol: string;
  readonly service: string;
  readonly method: string;
  readonly route: string | undefined;
  /** 1 for the first try. */
  readonly attempt: number;
  readonly kind: AttemptKind;
  /** The endpoint the balancer chose. */
  readonly endpoint: Endpoint;
  /** The attempt's context. */
  readonly ctx: CallContext;
  /**
   * Metadata a start subscriber adds; sent with this attempt over the context's (kept as it is when it
   * replaces every name the context has, so it must not change after the start).
   */
  readonly metadata: Record<string, string>;
}

/** One request a server handled, published by the HTTP and gRPC server kits. */
export interface ServerRequestEvent extends ExchangeEnd {
  readonly protocol: string;
  /** The serving service's name. */
  readonly service: string;
  /** The HTTP method, or the gRPC method as `package.Service/Method`. */
  readonly method: string;
  /** The route template when the server knows it (Fastify's route, the gRPC method), else `undefined`. */
  readonly route: string | undefined;
  /** The request id (the caller's `x-request-id` or a new one). */
  readonly requestId: string | undefined;
  /**
   * The propagated metadata the handler's context starts from (`traceparent`, request id, ...). A start
   * subscriber may replace entries (a server span's `traceparent`) before the handler runs.
   */
  readonly metadata: Record<string, string>;
  /** The HTTP status or gRPC status code answered, set on end. */
  status?: number;
}

/** Channel names of the exchange events. */
export const exchangeChannelNames = {
  clientCallStart: 'meshkit:client:call:start',
  clientCallEnd: 'meshkit:client:call:end',
  clientAttemptStart: 'meshkit:client:attempt:start',
  clientAttemptEnd: 'meshkit:client:attempt:end',
  serverRequestStart: 'meshkit:server:request:start',
  serverRequestEnd: 'meshkit:server:request:end',
} as const;

/** The exchange channels. */
export const exchangeChannels: {
  readonly clientCallStart: TypedChannel<ClientCallEvent>;
  readonly clientCallEnd: TypedChannel<ClientCallEvent>;
  readonly clientAttemptStart: TypedChannel<ClientAttemptEvent>;
  readonly clientAttemptEnd: TypedChannel<ClientAttemptEvent>;
  readonly serverRequestStart: TypedChannel<ServerRequestEvent>;
  readonly serverRequestEnd: TypedChannel<ServerRequestEvent>;
} = {
  clientCallStart: typedChannel<ClientCallEvent>(exchangeChannelNames.clientCallStart),
  clientCallEnd: typedChannel<ClientCallEvent>(exchangeChannelNames.clientCallEnd),
  clientAttemptStart: typedChannel<ClientAttemptEvent>(exchangeChannelNames.clientAttemptStart),
  clientAttemptEnd: typedChannel<ClientAttemptEvent>(exchangeChannelNames.clientAttemptEnd),
  serverRequestStart: typedChannel<ServerRequestEvent>(exchangeChannelNames.serverRequestStart),
  serverRequestEnd: typedChannel<ServerRequestEvent>(exchangeChannelNames.serverRequestEnd),
};

/** `true` when anyone observes server requests. */
export function serverRequestsObserved(): boolean {
  return (
    exchangeChannels.serverRequestStart.hasSubscribers || exchangeChannels.serverRequestEnd.hasSubscribers
  );
}
