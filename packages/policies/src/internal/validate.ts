import { InvalidArgumentError } from '@meshkit/core';
import { checkString } from '@meshkit/core/internal';

/**
 * Option checks the core helpers do not cover. Each throws `InvalidArgumentError` naming the field.
 */

/** A finite number strictly greater than zero. */
export function checkPositive(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(field, 'must be a finite number > 0', value);
  }
  return value;
}

/** The options object itself (a missing one is reported as `{}` would be, by its fields). */
export function checkOptions<T extends object>(field: string, value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) {
    throw new InvalidArgumentError(field, 'must be an options object', value);
  }
  return value;
}

/** The layer name: a non-empty string, or `fallback` when absent. */
export function checkName(field: string, value: unknown, fallback: string): string {
  return value === undefined ? fallback : checkString(field, value);
}

/** A number in `(0, 1]`: a ratio or a percentile. */
export function checkFraction(field: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    throw new InvalidArgumentError(field, 'must be a number > 0 and <= 1', value);
  }
  return value;
}
