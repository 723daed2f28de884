import { type Clock, systemClock } from '@meshkit/core';
import { checkNumber } from '@meshkit/core/internal';
import { checkName, checkOptions, checkPositive } from '../internal/validate.ts';

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries may add at most this fraction on top of first attempts (0..10). Defaults to 0.2 (20%). */
  readonly percentCanRetry?: number;
  /**
   * Retries per second allowed on top of the percentage, so a client with little traffic can still retry
   * (>= 0). The allowance accrues over time and saves up at most one second's worth (`max(1,
   * minRetriesPerSec)` retries), which is also what a new budget starts with. Defaults to 10.
   */
  readonly minRetriesPerSec?: number;
  /** How long deposits and withdrawals count, in milliseconds (> 0). Defaults to 10,000. */
  readonly windowMs?: number;
  /** Clock for the window. Defaults to the system clock. */
  readonly clock?: Clock;
  /** Name in events and `describe()`. Defaults to `'retry-budget'`. */
  readonly name?: string;
}

const slices = 10;
/** Token arithmetic is in integer milli-retries, so 20% of five calls is exactly one retry. */
const scale = 1000;

/**
 * A retry budget: every call deposits `percentCanRetry` of a token, every retry or hedge withdraws a whole
 * one; deposits and withdrawals expire after `windowMs`. On top of that, an allowance accrues at
 * `minRetriesPerSec`, saving at most one second's worth (a new budget starts with that), and a retry takes from it only
 * when the percentage has nothing left. Unlike Finagle's reserve (`minRetriesPerSec * ttl`, spendable at
 * once) the allowance is never a burst, so over any span of up to 9/10 of `windowMs`:
 *
 *   retries <= percentCanRetry * calls in the `windowMs` ending with the span
 *              + max(1, minRetriesPerSec) + minRetriesPerSec * the span in seconds
 *
 * Share one budget between every layer and client that talks to the same downstream: under an outage
 * retries then add at most 20% load (plus the allowance), instead of multiplying it.
 *
 * @example
 * ```ts
 * const budget = new RetryBudget();            // 20% over 10 s, plus 10 retries/s
 * const a = retry({ budget }), b = hedge({ delayMs: 50, budget });
 * ```
 */
export class RetryBudget {
  readonly name: string;
  readonly percentCanRetry: number;
  readonly minRetriesPerSec: number;
  readonly windowMs: number;
  readonly #clock: Clock;
  readonly #deposit: number;
  /** The allowance accrued, in milli-retries, as of `#allowanceAt`. */
  #allowance = 0;
  #allowanceAt: number;
  readonly #allowanceCap: number;
  readonly #allowancePerMs: number;
  readonly #sliceMs: number;
  readonly #slots = new Float64Array(slices);
  #index = 0;
  #sliceStart: number;
  #sum = 0;

  constructor(options?: RetryBudgetOptions) {
    const o = checkOptions('retryBudget', options);
    this.percentCanRetry = checkNumber('retryBudget.percentCanRetry', o.percentCanRetry ?? 0.2, 0, 10);
    this.minRetriesPerSec = checkNumber('retryBudget.minRetriesPerSec', o.minRetriesPerSec ?? 10, 0);
    this.windowMs = checkPositive('retryBudget.windowMs', o.windowMs ?? 10_000);
    this.name = checkName('retryBudget.name', o.name, 'retry-budget');
    this.#clock = o.clock ?? systemClock;
    this.#deposit = Math.round(this.percentCanRetry * scale);
    this.#allowanceCap = this.minRetriesPerSec === 0 ? 0 : Math.max(1, this.minRetriesPerSec) * scale;
    this.#allowancePerMs = this.minRetriesPerSec; // milli-retries per millisecond = retries per second
    this.#sliceMs = this.windowMs / slices;
    this.#sliceStart = this.#clock.now();
    this.#allowanceAt = this.#sliceStart;
    // As if idle for a second before: a new client can retry its first calls, within the same bound.
    this.#allowance = this.#allowanceCap;
  }

  /** Records one first attempt (called by the layers for every call they see). */
  deposit(): void {
    this.#add(this.#deposit);
  }

  /** Takes one retry token; `false` (and nothing taken) when the budget is exhausted. */
  tryWithdraw(): boolean {
    this.#roll();
    if (this.#sum >= scale) {
      this.#add(-scale);
      return true;
    }
    this.#accrue();
    if (this.#allowance < scale) return false;
    this.#allowance -= scale;
    return true;
  }

  /** Whole retries available right now: the percentage's and the allowance's. */
  get balance(): number {
    this.#roll();
    this.#accrue();
    return Math.floor(Math.max(0, this.#sum) / scale) + Math.floor(this.#allowance / scale);
  }

  /** Live state for the CLI and the dashboard. */
  describe(): Record<string, unknown> {
    return {
      name: this.name,
      balance: this.balance,
      percentCanRetry: this.percentCanRetry,
      minRetriesPerSec: this.minRetriesPerSec,
      windowMs: this.windowMs,
    };
  }

  #add(amount: number): void {
    this.#roll();
    this.#slots[this.#index]! += amount;
    this.#sum += amount;
  }

  /** Adds the allowance earned since it was last looked at, up to one second's worth. */
  #accrue(): void {
    const now = this.#clock.now();
    if (now <= this.#allowanceAt) return;
    this.#allowance = Math.min(
      this.#allowanceCap,
      this.#allowance + (now - this.#allowanceAt) * this.#allowancePerMs,
    );
    this.#allowanceAt = now;
  }

  /** Expires the slices that have left the window. */
  #roll(): void {
    const now = this.#clock.now();
    const elapsed = now - this.#sliceStart;
    if (elapsed < this.#sliceMs) return;
    const steps = Math.floor(elapsed / this.#sliceMs);
    const slots = this.#slots;
    for (let i = 0; i < steps && i < slices; i++) {
      this.#index = (this.#index + 1) % slices;
      this.#sum -= slots[this.#index]!;
      slots[this.#index] = 0;
    }
    this.#sliceStart += steps * this.#sliceMs;
  }
}
