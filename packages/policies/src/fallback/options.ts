import { InvalidArgumentError, isAbortError } from '@meshkit/core';
import { checkFunction } from '@meshkit/core/internal';
import { checkName, checkOptions } from '../internal/validate.ts';

/** Options of {@link fallback}: give exactly one of `value` and `fromError`. */
export interface FallbackOptions<Res> {
  /** The answer to give instead of a handled failure. */
  readonly value?: Res;
  /** Computes the answer from the failure (it may throw, or return a promise). */
  readonly fromError?: (error: unknown) => Res | Promise<Res>;
  /** Which failures to replace. Defaults to every error except a cancellation, which is never replaced. */
  readonly when?: (error: unknown) => boolean;
  /** Layer name in events and `describe()`. Defaults to `'fallback'`. */
  readonly name?: string;
}

export interface FallbackConfig<Res> {
  readonly fromError: (error: unknown) => Res | Promise<Res>;
  readonly when: (error: unknown) => boolean;
  readonly name: string;
}

export function resolveFallbackOptions<Res>(options: FallbackOptions<Res>): FallbackConfig<Res> {
  const o = checkOptions('fallback', options);
  const hasValue = 'value' in o;
  if (hasValue === (o.fromError !== undefined)) {
    throw new InvalidArgumentError('fallback.value', 'or fallback.fromError must be given, and not both');
  }
  let fromError: (error: unknown) => Res | Promise<Res>;
  if (hasValue) {
    const value = o.value as Res;
    fromError = () => value;
  } else {
    fromError = checkFunction('fallback.fromError', o.fromError);
  }
  const when = checkFunction<(error: unknown) => boolean>('fallback.when', o.when ?? (() => true));
  return {
    fromError,
    when: (error) => !isAbortError(error) && when(error),
    name: checkName('fallback.name', o.name, 'fallback'),
  };
}
