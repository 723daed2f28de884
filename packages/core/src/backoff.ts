import { InvalidArgumentError } from './errors.ts';
import { checkFunction, checkNumber } from './validate.ts';

/**
 * Backoff strategies: how long to wait before each retry. A strategy is a small stateless object; whoever
 * retries keeps the per-call state (the retry number and the previous delay) and asks it. The retry
 * policy of `@meshkit/policies` and the message consumer of `@meshkit/messaging` take the same
 * strategies.
 */

/** Computes the delay before a retry. */
export interface Backoff {
  /**
   * Milliseconds to wait before retry number `retry` (1 = the first retry). `previousMs` is the delay
   * used before the previous retry (0 before the first, or when the caller does not know it), which
   * decorrelated jitter builds on.
   */
  delayMs(retry: number, previousMs: number): number;
}

/**
 * The same delay before every retry.
 *
 * @example
 * ```ts
 * import { retry } from '@meshkit/policies';
 * retry({ backoff: constantBackoff(250) });
 * ```
 */
export function constantBackoff(delayMs: number): Backoff {
  const ms = checkNumber('constantBackoff.delayMs', delayMs, 0);
  return { delayMs: () => ms };
}

/** How randomness spreads retries out, so clients that failed together do not retry together. */
export type Jitter = 'none' | 'full' | 'equal' | 'decorrelated';

/** Options of {@link exponentialBackoff}. */
export interface ExponentialBackoffOptions {
  /** Delay of the first retry before jitter, in milliseconds. Defaults to 100. */
  readonly baseDelayMs?: number;
  /** Cap on any delay, in milliseconds. Defaults to 10,000. */
  readonly maxDelayMs?: number;
  /** Growth per retry for `'none'`, `'full'` and `'equal'` jitter (>= 1). Defaults to 2. */
  readonly factor?: number;
  /**
   * `'full'` (the default): uniform in `[0, d]` where `d = min(cap, base * factor^(retry-1))`.
   * `'equal'`: uniform in `[d / 2, d]`: spread out, yet never close to zero.
   * `'decorrelated'`: uniform in `[base, previous * 3]`, capped, as in AWS's "Exponential Backoff And
   * Jitter". `'none'`: the plain exponential curve `d`.
   */
  readonly jitter?: Jitter;
  /** Source of randomness in `[0, 1)`; defaults to `Math.random` (replace it in tests). */
  readonly random?: () => number;
}

/**
 * Exponential backoff with a cap and jitter.
 *
 * @example
 * ```ts
 * import { retry } from '@meshkit/policies';
 * retry({ backoff: exponentialBackoff({ baseDelayMs: 50, maxDelayMs: 2_000, jitter: 'decorrelated' }) });
 * ```
 */
export function exponentialBackoff(options?: ExponentialBackoffOptions): Backoff {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError('exponentialBackoff', 'must be an options object', options);
  }
  const o: ExponentialBackoffOptions = options ?? {};
  const base = checkNumber('exponentialBackoff.baseDelayMs', o.baseDelayMs ?? 100, 0);
  const cap = checkNumber('exponentialBackoff.maxDelayMs', o.maxDelayMs ?? 10_000, 0);
  const factor = checkNumber('exponentialBackoff.factor', o.factor ?? 2, 1);
  const jitter = o.jitter ?? 'full';
  const random = checkFunction<() => number>('exponentialBackoff.random', o.random ?? Math.random);
  const curve = (retry: number): number => Math.min(cap, base * factor ** (retry - 1));
  switch (jitter) {
    case 'none':
      return { delayMs: curve };
    case 'full':
      return { delayMs: (retry) => random() * curve(retry) };
    case 'equal':
      return {
        delayMs(retry) {
          const d = curve(retry);
          return d / 2 + (random() * d) / 2;
        },
      };
    case 'decorrelated':
      return {
        delayMs(_retry, previousMs) {
          const previous = Math.max(base, previousMs);
          return Math.min(cap, base + random() * (previous * 3 - base));
        },
      };
    default:
      throw new InvalidArgumentError(
        'exponentialBackoff.jitter',
        "must be 'none', 'full', 'equal' or 'decorrelated'",
        jitter,
      );
  }
}
