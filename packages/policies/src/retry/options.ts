import {
  type CallContext,
  checkFunction,
  checkInteger,
  checkNumber,
  ErrorCode,
  InvalidArgumentError,
  isAbortError,
  isMeshError,
} from '@meshkit/core';
import { checkName, checkOptions } from '../internal/validate.ts';
import { type Backoff, exponentialBackoff } from './backoff.ts';
import { RetryBudget } from './budget.ts';

/** Options of {@link retry}. */
export interface RetryOptions<Res = unknown> {
  /** Attempts in total, the first included (integer >= 1). Defaults to 3. */
  readonly maxAttempts?: number;
  /** Delay before each retry. Defaults to `exponentialBackoff()` (100 ms base, full jitter, 10 s cap). */
  readonly backoff?: Backoff;
  /** Cap on any wait, server pushback included, in milliseconds. Defaults to 30,000. */
  readonly maxDelayMs?: number;
  /** Which failures are worth retrying. Defaults to {@link isRetryableError}. */
  readonly retryOn?: (error: unknown, ctx: CallContext) => boolean;
  /** Retry a successful result too when this returns `true` (the last result is returned if none is left). */
  readonly retryOnResult?: (result: Res, ctx: CallContext) => boolean;
  /**
   * Retry calls marked non-idempotent (`ctx.idempotent === false`) for any retryable failure. Defaults to
   * `false`: such a call is retried only when the request was never sent (`ERR_CONNECT`, or a `rejected`
   * error) or when it carries `ctx.idempotencyKey`.
   */
  readonly retryNonIdempotent?: boolean;
  /**
   * Whether this request can be sent again (tower's `clone_request`): the policy asks before every
   * retry, whatever the call's idempotency. A request that cannot be replayed is retried only when the
   * failure shows it was never sent (`ERR_CONNECT`, or a `rejected` error: nothing of it was consumed).
   * Defaults to {@link canReplayKind}: a call whose requests stream (`ctx.kind` `'client-stream'` or
   * `'bidi'`) cannot be replayed.
   */
  readonly canReplay?: (request: unknown, ctx: CallContext) => boolean;
  /** A shared budget each retry must take a token from; every call deposits into it. No budget by default. */
  readonly budget?: RetryBudget;
  /** Layer name in events and `describe()`. Defaults to `'retry'`. */
  readonly name?: string;
}

/**
 * The default retry predicate: never a cancellation; a `MeshError` when it is `retryable` or `rejected`;
 * any other error (a plain network `TypeError`, say) yes.
 */
export function isRetryableError(error: unknown): boolean {
  if (isAbortError(error)) return false;
  if (isMeshError(error)) return error.retryable || error.rejected;
  return true;
}

/**
 * Whether repeating the call is safe: an idempotent call or one with an idempotency key always is; any
 * other only when `error` shows the request never reached the server.
 */
export function isSafeToRepeat(error: unknown, ctx: CallContext): boolean {
  if (ctx.idempotent || ctx.idempotencyKey !== undefined) return true;
  return neverSent(error);
}

/** `true` when `error` shows the request never left: `ERR_CONNECT` or a `rejected` error. */
export function neverSent(error: unknown): boolean {
  return isMeshError(error) && (error.code === ErrorCode.CONNECT || error.rejected);
}

/** The default `canReplay`: requests that do not stream can be sent again. */
export function canReplayKind(_request: unknown, ctx: CallContext): boolean {
  const kind = ctx.kind;
  return kind !== 'client-stream' && kind !== 'bidi';
}

export interface RetryConfig<Res> {
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly maxDelayMs: number;
  readonly retryOn: (error: unknown, ctx: CallContext) => boolean;
  readonly retryOnResult: ((result: Res, ctx: CallContext) => boolean) | undefined;
  readonly retryNonIdempotent: boolean;
  readonly canReplay: (request: unknown, ctx: CallContext) => boolean;
  readonly budget: RetryBudget | undefined;
  readonly name: string;
}

export function resolveRetryOptions<Res>(options: RetryOptions<Res> | undefined): RetryConfig<Res> {
  const o = checkOptions('retry', options);
  const backoff = o.backoff ?? exponentialBackoff();
  if (typeof backoff !== 'object' || backoff === null || typeof backoff.delayMs !== 'function') {
    throw new InvalidArgumentError('retry.backoff', 'must be a Backoff (an object with delayMs())', backoff);
  }
  if (o.budget !== undefined && !(o.budget instanceof RetryBudget)) {
    throw new InvalidArgumentError('retry.budget', 'must be a RetryBudget', o.budget);
  }
  return {
    maxAttempts: checkInteger('retry.maxAttempts', o.maxAttempts ?? 3, 1),
    backoff,
    maxDelayMs: checkNumber('retry.maxDelayMs', o.maxDelayMs ?? 30_000, 0),
    retryOn: checkFunction('retry.retryOn', o.retryOn ?? isRetryableError),
    retryOnResult:
      o.retryOnResult === undefined
        ? undefined
        : checkFunction<(result: Res, ctx: CallContext) => boolean>('retry.retryOnResult', o.retryOnResult),
    retryNonIdempotent: o.retryNonIdempotent ?? false,
    canReplay: checkFunction('retry.canReplay', o.canReplay ?? canReplayKind),
    budget: o.budget,
    name: checkName('retry.name', o.name, 'retry'),
  };
}
