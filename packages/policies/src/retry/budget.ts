import { type Clock, systemClock } from '@meshkit/core';
import { checkNumber } from '@meshkit/core/internal';
import { checkName, checkOptions, checkPositive } from '../internal/validate.ts';

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries may add at most this fraction on top of first attempts (0..10). Defaults to 0.2 (20%). */
  readonly percentCanRetry?: number;
  /** A floor of retries per second allowed even with little traffic (>= 0). Defaults to 10. */
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
 * A retry budget, as Finagle and Linkerd keep one: every call deposits `percentCanRetry` of a token,
 * every retry or hedge withdraws a whole one, and a reserve of `minRetriesPerSec * windowSec` tokens is
 * always there. Deposits and withdrawals expire after `windowMs`, so the reserve refills at
 * `minRetriesPerSec`. Share one budget between every layer and client that talks to the same
 * downstream: under an outage retries then add at most 20% load, instead of multiplying it.
 *
 * @example
 * ```ts
 * const budget = new RetryBudget();            // 20% + 10 retries/s over 10 s
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
  readonly #reserve: number;
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
    this.#reserve = Math.floor(this.minRetriesPerSec * (this.windowMs / 1000)) * scale;
    this.#sliceMs = this.windowMs / slices;
    this.#sliceStart = this.#clock.now();
  }

  /** Records one first attempt (called by the layers for every call they see). */
  deposit(): void {
    this.#add(this.#deposit);
  }

  /** Takes one retry token; `false` (and nothing taken) when the budget is exhausted. */
  tryWithdraw(): boolean {
    this.#roll();
    if (this.#reserve + this.#sum < scale) return false;
    this.#add(-scale);
    return true;
  }

  /** Whole retries available right now. */
  get balance(): number {
    this.#roll();
    return Math.floor((this.#reserve + this.#sum) / scale);
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
