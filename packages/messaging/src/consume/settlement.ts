import type { DeadLetterReason } from '../envelope.ts';

/**
 * What becomes of a delivery: the decision the consumer's layers make, which the consumer then carries
 * out at the broker (ack, retry later, dead-letter or release). Layers decide; only the consumer settles.
 */

// A registered symbol, so two installed copies of this package recognise each other's settlements.
const brand: unique symbol = Symbol.for('meshkit.messaging.settlement');

/** How a delivery is settled. Built with {@link settle}; a handler returns one to say what to do. */
export type Settlement =
  | { readonly [brand]: true; readonly kind: 'ack' }
  | {
      readonly [brand]: true;
      readonly kind: 'retry';
      readonly delayMs: number | undefined;
      readonly error: unknown;
    }
  | {
      readonly [brand]: true;
      readonly kind: 'dead-letter';
      readonly reason: DeadLetterReason;
      readonly error: unknown;
    }
  | { readonly [brand]: true; readonly kind: 'release' };

/**
 * What a handler (and each layer the user adds around it) resolves with: nothing (done: ack) or a
 * {@link Settlement}. Rejecting means failed: retried with backoff, then dead-lettered.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing is the common case.
export type HandlerResult = void | Settlement;

const ack: Settlement = Object.freeze({ [brand]: true as const, kind: 'ack' });
const release: Settlement = Object.freeze({ [brand]: true as const, kind: 'release' });

function asError(why: string | Error): Error {
  return typeof why === 'string' ? new Error(why) : why;
}

/**
 * Builds settlements. A handler returns `settle.deadLetter(why)` to send its message to the dead-letter
 * topic at once (reason `handler-rejected`, `why` as the error), or `settle.retry(why, delayMs?)` to try it
 * again like a failure (counts as an attempt; after the last one it is dead-lettered), after `delayMs` or
 * the consumer's backoff. Resolving with nothing acks.
 *
 * @example
 * ```ts
 * declare const broker: Broker;
 * declare const knownKinds: ReadonlySet<string>;
 * declare const quota: { take(): Promise<number> };
 * declare function apply(order: { kind: string }): Promise<void>;
 * await consume<{ kind: string }>(broker, {
 *   group: 'orders',
 *   topics: ['order.*'],
 *   handler: async (msg) => {
 *     if (!knownKinds.has(msg.data.kind)) return settle.deadLetter(`unknown kind ${msg.data.kind}`);
 *     const wait = await quota.take();
 *     if (wait > 0) return settle.retry('over quota', wait);
 *     await apply(msg.data);
 *   },
 * });
 * ```
 */
export const settle = Object.freeze({
  /** Straight to the dead-letter topic, handler never retried: reason `handler-rejected`. */
  deadLetter: (why: string | Error): Settlement =>
    Object.freeze({
      [brand]: true as const,
      kind: 'dead-letter',
      reason: 'handler-rejected',
      error: asError(why),
    }),
  /** A failed attempt: retried after `delayMs` (ms; default: the consumer's backoff), or dead-lettered after the last. */
  retry: (why: string | Error, delayMs?: number): Settlement =>
    Object.freeze({ [brand]: true as const, kind: 'retry', delayMs, error: asError(why) }),
});

/** Done: the group will not see the message again (what a handler resolving with nothing means). */
export const ackSettlement: Settlement = ack;
/** Handed back unprocessed, not counted as an attempt: what a graceful stop does. */
export const releaseSettlement: Settlement = release;

/** A dead-letter settlement for one of the consumer's own reasons. */
export function deadLetterFor(reason: DeadLetterReason, error: unknown): Settlement {
  return { [brand]: true as const, kind: 'dead-letter', reason, error };
}

/** A retry settlement with a decided delay, ms. */
export function retryAfter(delayMs: number, error: unknown): Settlement {
  return { [brand]: true as const, kind: 'retry', delayMs, error };
}

/** Whether `value` is a {@link Settlement} (from any installed copy of this package). */
export function isSettlement(value: unknown): value is Settlement {
  return typeof value === 'object' && value !== null && (value as { [brand]?: unknown })[brand] === true;
}
