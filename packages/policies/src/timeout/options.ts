import { checkName, checkOptions, checkPositive } from '../internal/validate.ts';

/** Options of {@link timeout}: a limit on each attempt. */
export interface TimeoutOptions {
  /** How long one attempt may run, in milliseconds (> 0). Required. */
  readonly timeoutMs: number;
  /** Layer name in events and `describe()`. Defaults to `'timeout'`. */
  readonly name?: string;
}

/** Options of {@link deadline}: a limit on the whole call, including every retry below it. */
export interface DeadlineOptions {
  /** How long the whole call may run, in milliseconds (> 0). Required. */
  readonly timeoutMs: number;
  /** Layer name in events and `describe()`. Defaults to `'deadline'`. */
  readonly name?: string;
}

/** Validated form shared by both layers. */
export interface ExpiryConfig {
  readonly timeoutMs: number;
  readonly name: string;
}

export function resolveExpiryOptions(
  kind: 'timeout' | 'deadline',
  options: TimeoutOptions | DeadlineOptions | undefined,
): ExpiryConfig {
  const o = checkOptions(kind, options);
  return {
    timeoutMs: checkPositive(`${kind}.timeoutMs`, o.timeoutMs),
    name: checkName(`${kind}.name`, o.name, kind),
  };
}
