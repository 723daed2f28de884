import { checkInteger } from '@meshkit/core/internal';
import { checkFraction, checkOptions, checkPositive } from '../internal/validate.ts';

/**
 * Breaker strategies decide when a closed circuit opens. The layer owns the states and the half-open
 * probing; a strategy only counts. Give each breaker its own strategy instance: it holds the counts.
 */
export interface BreakerStrategy {
  /** Shown by `describe()`. */
  readonly name: string;
  /** `true` when the strategy reads the `nowMs` it is given; the layer reads the clock only then. */
  readonly timed: boolean;
  /** Records a successful call that finished at `nowMs`. */
  success(nowMs: number): void;
  /** Records a failed call that finished at `nowMs`; returns `true` when the circuit should open. */
  failure(nowMs: number): boolean;
  /** Forgets everything (the circuit closed again). */
  reset(): void;
  /** Live counts for `describe()`. */
  describe(): Record<string, unknown>;
}

/** Options of {@link consecutiveFailures}. */
export interface ConsecutiveFailuresOptions {
  /** Failures in a row that open the circuit (integer >= 1). Defaults to 5. */
  readonly threshold?: number;
}

/**
 * Opens after `threshold` failures in a row; any success resets the run.
 *
 * @example
 * ```ts
 * circuitBreaker({ strategy: consecutiveFailures({ threshold: 3 }) });
 * ```
 */
export function consecutiveFailures(options?: ConsecutiveFailuresOptions): BreakerStrategy {
  const o = checkOptions('consecutiveFailures', options);
  const threshold = checkInteger('consecutiveFailures.threshold', o.threshold ?? 5, 1);
  let run = 0;
  return {
    name: 'consecutive-failures',
    timed: false,
    success() {
      run = 0;
    },
    failure() {
      run++;
      return run >= threshold;
    },
    reset() {
      run = 0;
    },
    describe: () => ({ threshold, consecutiveFailures: run }),
  };
}

/** Options of {@link failureRate}. */
export interface FailureRateOptions {
  /** Failure ratio at or above which the circuit opens, in (0, 1]. Defaults to 0.5. */
  readonly threshold?: number;
  /** Length of the sliding window, in milliseconds (> 0). Defaults to 10,000. */
  readonly windowMs?: number;
  /** Calls the window must hold before the ratio counts (integer >= 1). Defaults to 20. */
  readonly minimumThroughput?: number;
  /** Slices the window is kept in (integer 1..1000); more is smoother. Defaults to 10. */
  readonly buckets?: number;
}

/**
 * Opens when, over the last `windowMs`, at least `minimumThroughput` calls were seen and the share of
 * failures reached `threshold`. The window slides in `buckets` steps, so old failures decay.
 *
 * @example
 * ```ts
 * circuitBreaker({ strategy: failureRate({ threshold: 0.5, windowMs: 30_000, minimumThroughput: 10 }) });
 * ```
 */
export function failureRate(options?: FailureRateOptions): BreakerStrategy {
  const o = checkOptions('failureRate', options);
  const threshold = checkFraction('failureRate.threshold', o.threshold ?? 0.5);
  const windowMs = checkPositive('failureRate.windowMs', o.windowMs ?? 10_000);
  const minimumThroughput = checkInteger('failureRate.minimumThroughput', o.minimumThroughput ?? 20, 1);
  const buckets = checkInteger('failureRate.buckets', o.buckets ?? 10, 1, 1000);
  const sliceMs = windowMs / buckets;
  const okCounts = new Float64Array(buckets);
  const failCounts = new Float64Array(buckets);
  let index = 0;
  let sliceStart = Number.NEGATIVE_INFINITY;
  let ok = 0;
  let failed = 0;
  const roll = (now: number): void => {
    if (now - sliceStart < sliceMs) return;
    if (sliceStart === Number.NEGATIVE_INFINITY) {
      sliceStart = now;
      return;
    }
    const steps = Math.floor((now - sliceStart) / sliceMs);
    for (let i = 0; i < steps && i < buckets; i++) {
      index = (index + 1) % buckets;
      ok -= okCounts[index]!;
      failed -= failCounts[index]!;
      okCounts[index] = 0;
      failCounts[index] = 0;
    }
    sliceStart += steps * sliceMs;
  };
  const clear = (): void => {
    okCounts.fill(0);
    failCounts.fill(0);
    ok = 0;
    failed = 0;
  };
  return {
    name: 'failure-rate',
    timed: true,
    success(now) {
      roll(now);
      okCounts[index]!++;
      ok++;
    },
    failure(now) {
      roll(now);
      failCounts[index]!++;
      failed++;
      const total = ok + failed;
      return total >= minimumThroughput && failed / total >= threshold;
    },
    reset: clear,
    describe: () => ({ threshold, windowMs, minimumThroughput, successes: ok, failures: failed }),
  };
}
