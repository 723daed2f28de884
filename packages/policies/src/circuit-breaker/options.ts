import { type Clock, InvalidArgumentError, isAbortError, type LayerTarget, systemClock } from '@meshkit/core';
import { checkFunction, checkInteger } from '@meshkit/core/internal';
import { isLocalRefusal } from '../internal/errors.ts';
import { checkName, checkOptions, checkPositive } from '../internal/validate.ts';
import { type BreakerStrategy, consecutiveFailures } from './strategies.ts';

/** Options of {@link circuitBreaker}. */
export interface CircuitBreakerOptions {
  /** When a closed circuit opens. Defaults to `consecutiveFailures()` (5 in a row). One per breaker. */
  readonly strategy?: BreakerStrategy;
  /** How long an open circuit refuses calls before it lets probes through, in milliseconds. Defaults to 10,000. */
  readonly halfOpenAfterMs?: number;
  /**
   * Probes a half-open circuit admits (integer >= 1): at most this many run at once, and this many
   * successes close the circuit; one failure opens it again. Defaults to 1.
   */
  readonly halfOpenProbes?: number;
  /** A call slower than this many milliseconds counts as a failure even if it succeeded. Off by default. */
  readonly slowCallMs?: number;
  /**
   * Which errors count as failures. Defaults to {@link countsAsFailure}: everything except a cancellation
   * and a local refusal. A cancellation never counts, whatever this says.
   */
  readonly isFailure?: (error: unknown) => boolean;
  /** Clock for the open period and the strategy's window. Defaults to the system clock. */
  readonly clock?: Clock;
  /** Layer name in events and `describe()`. Defaults to `'circuit-breaker'`. */
  readonly name?: string;
  /** The service and endpoint this breaker guards, named in its events. Defaults to none. */
  readonly target?: LayerTarget;
}

/**
 * The default failure predicate: any error except an `AbortError` and a refusal raised locally
 * (bulkhead full, rate limited, another breaker open), which says nothing about the downstream's health.
 */
export function countsAsFailure(error: unknown): boolean {
  return !isAbortError(error) && !isLocalRefusal(error);
}

export interface CircuitBreakerConfig {
  readonly strategy: BreakerStrategy;
  readonly halfOpenAfterMs: number;
  readonly halfOpenProbes: number;
  readonly slowCallMs: number | undefined;
  readonly isFailure: (error: unknown) => boolean;
  readonly clock: Clock;
  readonly name: string;
  readonly target: LayerTarget | undefined;
}

export function resolveCircuitBreakerOptions(
  options: CircuitBreakerOptions | undefined,
): CircuitBreakerConfig {
  const o = checkOptions('circuitBreaker', options);
  const strategy = o.strategy ?? consecutiveFailures();
  if (
    typeof strategy !== 'object' ||
    strategy === null ||
    typeof strategy.success !== 'function' ||
    typeof strategy.failure !== 'function' ||
    typeof strategy.reset !== 'function'
  ) {
    throw new InvalidArgumentError('circuitBreaker.strategy', 'must be a BreakerStrategy', strategy);
  }
  return {
    strategy,
    halfOpenAfterMs: checkPositive('circuitBreaker.halfOpenAfterMs', o.halfOpenAfterMs ?? 10_000),
    halfOpenProbes: checkInteger('circuitBreaker.halfOpenProbes', o.halfOpenProbes ?? 1, 1),
    slowCallMs:
      o.slowCallMs === undefined ? undefined : checkPositive('circuitBreaker.slowCallMs', o.slowCallMs),
    isFailure: checkFunction('circuitBreaker.isFailure', o.isFailure ?? countsAsFailure),
    clock: o.clock ?? systemClock,
    name: checkName('circuitBreaker.name', o.name, 'circuit-breaker'),
    target: o.target,
  };
}
