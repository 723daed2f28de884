import {
  type Backoff,
  checkInteger,
  ErrorCode,
  exponentialBackoff,
  InvalidArgumentError,
  isMeshError,
  type Layer,
} from '@meshkit/core';
import type { Message } from './message.ts';
import {
  ackSettlement,
  deadLetterFor,
  type HandlerResult,
  isSettlement,
  retryAfter,
  type Settlement,
} from './settlement.ts';

/** Retry options of `consume()`. */
export interface ConsumeRetryOptions {
  /** Handling attempts in total, the first included, before dead-lettering (integer >= 1). Defaults to 5. */
  readonly maxAttempts?: number;
  /**
   * Delay before each retry, from `@meshkit/core` (the strategies the retry policy takes too). It is asked
   * with the retry number and a previous delay of 0: the delay runs at the broker and the consumer keeps
   * no state between deliveries. Defaults to
   * `exponentialBackoff({ baseDelayMs: 1_000, maxDelayMs: 60_000, jitter: 'equal' })`.
   */
  readonly backoff?: Backoff;
}

/** A checked {@link ConsumeRetryOptions}. */
export interface RetryDecision {
  readonly maxAttempts: number;
  readonly backoff: Backoff;
}

/** Checks retry options, naming fields under `field`. */
export function resolveConsumeRetry(options: ConsumeRetryOptions | undefined, field: string): RetryDecision {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(field, 'must be an options object', options);
  }
  const maxAttempts = checkInteger(`${field}.maxAttempts`, options?.maxAttempts ?? 5, 1);
  const backoff =
    options?.backoff ?? exponentialBackoff({ baseDelayMs: 1_000, maxDelayMs: 60_000, jitter: 'equal' });
  if (typeof backoff !== 'object' || backoff === null || typeof backoff.delayMs !== 'function') {
    throw new InvalidArgumentError(
      `${field}.backoff`,
      'must be a Backoff (an object with delayMs())',
      backoff,
    );
  }
  return { maxAttempts, backoff };
}

/**
 * Turns the handler's outcome into a settlement: resolved with nothing = ack; a settlement it returned
 * (see `settle`) stands, except that a retry past the last attempt becomes a dead letter; a rejection is
 * a failed attempt, retried after the backoff until `maxAttempts`, then dead-lettered
 * (`handler-failed`). An `ERR_INVALID_PAYLOAD` rejection is dead-lettered at once (`invalid-payload`):
 * trying again cannot fix the data.
 */
export function retryDeadLetterLayer<T>(
  decision: RetryDecision,
): Layer<Message<T>, Settlement, Message<T>, HandlerResult> {
  const { maxAttempts, backoff } = decision;
  const failed = (attempt: number, error: unknown, delayMs: number | undefined): Settlement => {
    if (attempt >= maxAttempts) return deadLetterFor('handler-failed', error);
    return retryAfter(Math.max(0, Math.round(delayMs ?? backoff.delayMs(attempt, 0))), error);
  };
  return {
    name: 'retry-dead-letter',
    wrap: (next) => (message, ctx) => {
      let outcome: Promise<HandlerResult>;
      try {
        outcome = next(message, ctx);
        // A plain-JavaScript handler may return a value or throw instead of returning a promise.
        if (typeof outcome?.then !== 'function') outcome = Promise.resolve(outcome);
      } catch (error) {
        outcome = Promise.reject(error);
      }
      return outcome.then(
        (result) => {
          if (result === undefined || !isSettlement(result)) return ackSettlement;
          if (result.kind === 'retry') return failed(message.attempt, result.error, result.delayMs);
          return result;
        },
        (error: unknown) => {
          if (isMeshError(error) && error.code === ErrorCode.INVALID_PAYLOAD) {
            return deadLetterFor('invalid-payload', error);
          }
          return failed(message.attempt, error, undefined);
        },
      );
    },
    describe: () => ({ maxAttempts }),
  };
}
