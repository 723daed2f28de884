/**
 * Twice `n`.
 *
 * @example
 * ```ts
 * double(2); // 4
 * ```
 *
 * @example
 * ```ts
 * const four: number = double(2);
 * const text: string = double(2);
 * ```
 */
export function double(n: number): number {
  return n * 2;
}

/**
 * Half of `n`.
 *
 * @example
 * half(4); // 2
 */
export function half(n: number): number {
  return n / 2;
}
