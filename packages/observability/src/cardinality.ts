import { InvalidArgumentError } from '@meshkit/core';

/** The value a label takes once its cap of distinct values is reached. */
export const otherLabel = 'other';

/**
 * Bounds the distinct values of one label: the first `max` values seen pass through, every later new
 * value becomes {@link otherLabel}. A label fed only route templates, service and endpoint names stays
 * well under the cap; the cap is the guard against a raw path or an id slipping in.
 */
export class LabelCap {
  readonly #seen = new Set<string>();
  readonly #max: number;

  constructor(field: string, max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new InvalidArgumentError(field, 'must be an integer >= 1', max);
    }
    this.#max = max;
  }

  /** `value` if it is known or there is room for it, else `'other'`. */
  bound(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#max) return otherLabel;
    this.#seen.add(value);
    return value;
  }

  /** Distinct values admitted so far. */
  get size(): number {
    return this.#seen.size;
  }
}
