import { checkInteger, checkNumber } from '@meshkit/core';

/**
 * When a failed message is tried again: exponential backoff with "equal jitter" (half the delay fixed,
 * half random), so retries of a burst of failures spread out but never collapse to zero delay.
 */

/** Retry options of {@link consume}. */
export interface RetryOptions {
  /** Handling attempts in total, the first included, before dead-lettering. Defaults to 5. */
  readonly maxAttempts?: number;
  /** Delay before the first retry, in milliseconds. Defaults to 1,000. */
  readonly baseDelayMs?: number;
  /** Cap on any single delay, in milliseconds. Defaults to 60,000. */
  readonly maxDelayMs?: number;
  /** Growth factor per attempt. Defaults to 2. */
  readonly multiplier?: number;
  /** Source of randomness in [0, 1) for jitter. Defaults to `Math.random`. */
  readonly random?: () => number;
}

/** A validated retry schedule. */
export interface RetrySchedule {
  readonly maxAttempts: number;
  /** The delay before attempt `attempt + 1` after attempt `attempt` failed. */
  delayAfter(attempt: number): number;
}

/**
 * Validates retry options and builds the schedule.
 *
 * @example
 * ```ts
 * retrySchedule({ maxAttempts: 3, baseDelayMs: 100 }).delayAfter(1); // 50..100 ms
 * ```
 */
export function retrySchedule(options: RetryOptions = {}, field = 'retry'): RetrySchedule {
  const maxAttempts = checkInteger(`${field}.maxAttempts`, options.maxAttempts ?? 5, 1);
  const baseDelayMs = checkNumber(`${field}.baseDelayMs`, options.baseDelayMs ?? 1_000, 0);
  const maxDelayMs = checkNumber(`${field}.maxDelayMs`, options.maxDelayMs ?? 60_000, baseDelayMs);
  const multiplier = checkNumber(`${field}.multiplier`, options.multiplier ?? 2, 1);
  const random = options.random ?? Math.random;
  return {
    maxAttempts,
    delayAfter(attempt) {
      const full = Math.min(maxDelayMs, baseDelayMs * multiplier ** Math.max(0, attempt - 1));
      return Math.round(full / 2 + (random() * full) / 2);
    },
  };
}
