import { InvalidArgumentError } from '@meshkit/core';
import { checkInteger, checkNumber } from '@meshkit/core/internal';
import { checkFraction, checkName, checkOptions } from '../internal/validate.ts';
import { RetryBudget } from '../retry/budget.ts';

/** Options of {@link hedge}. Give either `delayMs` or `percentile` (the default is the 95th percentile). */
export interface HedgeOptions {
  /** A fixed wait before each extra attempt, in milliseconds (>= 0). */
  readonly delayMs?: number;
  /**
   * Wait the given percentile of recent successful latencies before each extra attempt, in (0, 1].
   * Defaults to 0.95 when `delayMs` is not given.
   */
  readonly percentile?: number;
  /** Lower bound on a percentile delay, in milliseconds. Defaults to 1. */
  readonly minDelayMs?: number;
  /** Upper bound on a percentile delay, and the delay used until enough samples exist, in ms. Defaults to 1,000. */
  readonly maxDelayMs?: number;
  /** How many recent latencies the percentile is taken over (integer 10..100,000). Defaults to 1,000. */
  readonly sampleSize?: number;
  /** Extra attempts at most (integer 0..10). Defaults to 1. */
  readonly maxHedges?: number;
  /** Each extra attempt takes a token from this budget, and every call deposits. No budget by default. */
  readonly budget?: RetryBudget;
  /**
   * Whether each call deposits into `budget`. Defaults to `true`; `false` when a retry layer below
   * shares the budget and already deposits for every attempt it is given.
   */
  readonly deposit?: boolean;
  /** Layer name in events and `describe()`. Defaults to `'hedge'`. */
  readonly name?: string;
}

export type HedgeDelay =
  | { readonly kind: 'fixed'; readonly delayMs: number }
  | {
      readonly kind: 'percentile';
      readonly percentile: number;
      readonly minDelayMs: number;
      readonly maxDelayMs: number;
      readonly sampleSize: number;
    };

export interface HedgeConfig {
  readonly delay: HedgeDelay;
  readonly maxHedges: number;
  readonly budget: RetryBudget | undefined;
  readonly deposit: boolean;
  readonly name: string;
}

export function resolveHedgeOptions(options: HedgeOptions | undefined): HedgeConfig {
  const o = checkOptions('hedge', options);
  if (o.delayMs !== undefined && o.percentile !== undefined) {
    throw new InvalidArgumentError('hedge.percentile', 'must not be given together with hedge.delayMs');
  }
  if (o.budget !== undefined && !(o.budget instanceof RetryBudget)) {
    throw new InvalidArgumentError('hedge.budget', 'must be a RetryBudget', o.budget);
  }
  let delay: HedgeDelay;
  if (o.delayMs !== undefined) {
    delay = { kind: 'fixed', delayMs: checkNumber('hedge.delayMs', o.delayMs, 0) };
  } else {
    const minDelayMs = checkNumber('hedge.minDelayMs', o.minDelayMs ?? 1, 0);
    const maxDelayMs = checkNumber('hedge.maxDelayMs', o.maxDelayMs ?? 1_000, minDelayMs);
    delay = {
      kind: 'percentile',
      percentile: checkFraction('hedge.percentile', o.percentile ?? 0.95),
      minDelayMs,
      maxDelayMs,
      sampleSize: checkInteger('hedge.sampleSize', o.sampleSize ?? 1_000, 10, 100_000),
    };
  }
  return {
    delay,
    maxHedges: checkInteger('hedge.maxHedges', o.maxHedges ?? 1, 0, 10),
    budget: o.budget,
    deposit: o.deposit ?? true,
    name: checkName('hedge.name', o.name, 'hedge'),
  };
}
