import diagnostics from 'node:diagnostics_channel';
import type { CallContext } from './context.ts';

/**
 * Typed events on `node:diagnostics_channel`, published by policies and transports and consumed by
 * `@meshkit/observability` or anyone else. Publishers check `hasSubscribers` before building a message,
 * so an event nobody listens to costs one property read.
 *
 * @example
 * ```ts
 * import { channels } from '@meshkit/core';
 * channels.retryScheduled.subscribe((e) => console.log(`retry #${e.attempt} in ${e.delayMs} ms`, e.error));
 * ```
 */

/** A `diagnostics_channel` channel whose messages have type `T`. */
export interface TypedChannel<T> {
  readonly name: string;
  readonly hasSubscribers: boolean;
  publish(message: T): void;
  subscribe(listener: (message: T, name: string | symbol) => void): void;
  unsubscribe(listener: (message: T, name: string | symbol) => void): boolean;
}

/** The typed channel named `name` (one per name process-wide). */
export function typedChannel<T>(name: string): TypedChannel<T> {
  return diagnostics.channel(name) as unknown as TypedChannel<T>;
}

/** Common fields: which layer instance published, by its name. */
interface LayerEvent {
  readonly layer: string;
  /** The downstream service a per-endpoint layer guards, when its owner said (`clientStack` does). */
  readonly service?: string;
  /** The endpoint id a per-endpoint layer guards, when its owner said. */
  readonly endpoint?: string;
}

/** Which service and endpoint a per-endpoint layer guards, reported in its events. */
export interface LayerTarget {
  readonly service: string;
  readonly endpoint: string;
}

/** A policy is about to run attempt `attempt` (1 = first try). */
export interface AttemptStartEvent extends LayerEvent {
  readonly attempt: number;
  readonly ctx: CallContext;
}
/** An attempt finished; `error` is set when it failed. */
export interface AttemptEndEvent extends LayerEvent {
  readonly attempt: number;
  readonly durationMs: number;
  readonly error?: unknown;
}
/** A retry will run after `delayMs`. */
export interface RetryScheduledEvent extends LayerEvent {
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}
/** A retry or hedge was skipped because the retry budget is empty. */
export interface BudgetExhaustedEvent extends LayerEvent {
  readonly budget: string;
  readonly error?: unknown;
}
/** A circuit breaker changed state. */
export interface BreakerStateEvent extends LayerEvent {
  readonly from: string;
  readonly to: string;
}
/** A bulkhead refused a call. */
export interface BulkheadRejectedEvent extends LayerEvent {
  readonly active: number;
  readonly queued: number;
}
/** A hedge fired an extra attempt. */
export interface HedgeFiredEvent extends LayerEvent {
  readonly hedge: number;
  readonly delayMs: number;
}
/** A timeout or deadline fired and aborted work. */
export interface TimeoutEvent extends LayerEvent {
  readonly kind: 'attempt' | 'deadline';
  readonly timeoutMs: number;
}
/** A rate limiter refused a call. */
export interface RateLimitedEvent extends LayerEvent {
  readonly retryAfterMs: number;
}
/** A fallback replaced a failure with a value. */
export interface FallbackEvent extends LayerEvent {
  readonly error: unknown;
}

/** Channel names: `meshkit:<area>:<event>`. */
export const channelNames = {
  attemptStart: 'meshkit:attempt:start',
  attemptEnd: 'meshkit:attempt:end',
  retryScheduled: 'meshkit:retry:scheduled',
  budgetExhausted: 'meshkit:retry:budget-exhausted',
  breakerState: 'meshkit:breaker:state',
  bulkheadRejected: 'meshkit:bulkhead:rejected',
  hedgeFired: 'meshkit:hedge:fired',
  timeout: 'meshkit:timeout:fired',
  rateLimited: 'meshkit:rate-limit:rejected',
  fallback: 'meshkit:fallback:used',
} as const;

/** The typed channels. `diagnostics_channel` returns one channel per name process-wide. */
export const channels = {
  attemptStart: typedChannel<AttemptStartEvent>(channelNames.attemptStart),
  attemptEnd: typedChannel<AttemptEndEvent>(channelNames.attemptEnd),
  retryScheduled: typedChannel<RetryScheduledEvent>(channelNames.retryScheduled),
  budgetExhausted: typedChannel<BudgetExhaustedEvent>(channelNames.budgetExhausted),
  breakerState: typedChannel<BreakerStateEvent>(channelNames.breakerState),
  bulkheadRejected: typedChannel<BulkheadRejectedEvent>(channelNames.bulkheadRejected),
  hedgeFired: typedChannel<HedgeFiredEvent>(channelNames.hedgeFired),
  timeout: typedChannel<TimeoutEvent>(channelNames.timeout),
  rateLimited: typedChannel<RateLimitedEvent>(channelNames.rateLimited),
  fallback: typedChannel<FallbackEvent>(channelNames.fallback),
} as const;
