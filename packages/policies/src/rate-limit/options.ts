import { type Clock, systemClock } from '@meshkit/core';
import { checkNumber } from '@meshkit/core/internal';
import { checkName, checkOptions, checkPositive } from '../internal/validate.ts';

/** Options of {@link rateLimit}. */
export interface RateLimitOptions {
  /** Calls allowed per second on average (> 0). Required. */
  readonly ratePerSec: number;
  /** Calls allowed in a burst: the bucket's size (>= 1). Defaults to `max(1, ratePerSec)`. */
  readonly burst?: number;
  /**
   * How long a call may wait for a token, in milliseconds (>= 0). Defaults to 0: refuse at once. A call
   * never waits past its deadline.
   */
  readonly waitUpToMs?: number;
  /** Clock the bucket refills on. Defaults to the system clock. */
  readonly clock?: Clock;
  /** Layer name in events and `describe()`. Defaults to `'rate-limit'`. */
  readonly name?: string;
}

export interface RateLimitConfig {
  readonly ratePerSec: number;
  readonly burst: number;
  readonly waitUpToMs: number;
  readonly clock: Clock;
  readonly name: string;
}

export function resolveRateLimitOptions(options: RateLimitOptions): RateLimitConfig {
  const o = checkOptions('rateLimit', options);
  const ratePerSec = checkPositive('rateLimit.ratePerSec', o.ratePerSec);
  return {
    ratePerSec,
    burst: checkNumber('rateLimit.burst', o.burst ?? Math.max(1, ratePerSec), 1),
    waitUpToMs: checkNumber('rateLimit.waitUpToMs', o.waitUpToMs ?? 0, 0),
    clock: o.clock ?? systemClock,
    name: checkName('rateLimit.name', o.name, 'rate-limit'),
  };
}
