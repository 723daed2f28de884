import { InvalidArgumentError } from './errors.ts';

/**
 * Small option checks shared by every factory. Each throws {@link InvalidArgumentError} naming the field,
 * so `retry({ maxAttempts: 0 })` fails at construction with `retry.maxAttempts must be an integer >= 1`.
 */

/** Checks `value` is a finite number within `[min, max]` and returns it. */
export function checkNumber(field: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new InvalidArgumentError(field, 'must be a number', value);
  }
  if (value < min || value > max) {
    const rule = max === Infinity ? `must be >= ${min}` : `must be between ${min} and ${max}`;
    throw new InvalidArgumentError(field, rule, value);
  }
  return value;
}

/** Checks `value` is an integer within `[min, max]` and returns it. */
export function checkInteger(field: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    if (value === Infinity && max === Infinity) return value;
    throw new InvalidArgumentError(field, 'must be an integer', value);
  }
  if (value < min || value > max) {
    const rule =
      max === Infinity ? `must be an integer >= ${min}` : `must be an integer between ${min} and ${max}`;
    throw new InvalidArgumentError(field, rule, value);
  }
  return value;
}

/** Checks `value` is a function and returns it. */
export function checkFunction<F extends (...args: never[]) => unknown>(field: string, value: unknown): F {
  if (typeof value !== 'function') throw new InvalidArgumentError(field, 'must be a function', value);
  return value as F;
}

/** Checks `value` is a non-empty string and returns it. */
export function checkString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(field, 'must be a non-empty string', value);
  }
  return value;
}
