import {
  type CallContext,
  channels,
  ErrorCode,
  inheritCancelsPromptly,
  isAbortError,
  type Layer,
  MeshError,
  previousEndpoints,
  type Service,
  sleep,
} from '@meshkit/core';
import { failedEndpointOf } from '@meshkit/core/internal';
import { attemptsObserved, observedAttempt } from '../internal/attempt.ts';
import { toAbortError } from '../internal/errors.ts';
import { GuardChain, type Pipeline, pipelineOf, start, withPipeline } from '../internal/pipeline.ts';
import {
  isSafeToRepeat,
  neverSent,
  type RetryConfig,
  type RetryOptions,
  resolveRetryOptions,
} from './options.ts';
import { pushbackMs } from './retry-after.ts';

export {
  type Backoff,
  constantBackoff,
  type ExponentialBackoffOptions,
  exponentialBackoff,
  type Jitter,
} from './backoff.ts';
export { RetryBudget, type RetryBudgetOptions } from './budget.ts';
export { canReplayKind, isRetryableError, isSafeToRepeat, type RetryOptions } from './options.ts';
export { parseGrpcPushback, parseRetryAfter, pushbackMs } from './retry-after.ts';

/** What the last attempt produced. */
type Outcome<Res> =
  | { readonly ok: true; readonly value: Res }
  | { readonly ok: false; readonly error: unknown };

/**
 * Retries failed attempts with backoff. Each retry runs with `ctx.with({ attempt })`. It stops at once
 * when the call is cancelled (an `AbortError` is never retried), never sleeps past `ctx.deadline` (the
 * last failure surfaces instead), honours server pushback (`retryAfterMs`, `Retry-After`,
 * `grpc-retry-pushback-ms`) up to `maxDelayMs`, and retries a non-idempotent call only when that is safe
 * (see {@link RetryOptions.retryNonIdempotent}). With a `budget`, a retry that finds it empty surfaces the
 * `ERR_RETRY_BUDGET` (not retryable) with the last failure as its `cause`.
 *
 * The success path adds one `.then` and no timer; the retry machinery runs only after a failure.
 *
 * @example
 * ```ts
 * import { stack } from '@meshkit/core';
 * import { type HttpRequest, type HttpResponse, httpTransport } from '@meshkit/http';
 * const service = httpTransport('127.0.0.1:8080');
 * const budget = new RetryBudget();
 * const call = stack<HttpRequest, HttpResponse>(retry({ maxAttempts: 4, budget }), timeout({ timeoutMs: 300 })).wrap(service);
 * ```
 */
export function retry<Req, Res>(options?: RetryOptions<Res>): Layer<Req, Res> {
  const config = resolveRetryOptions(options);
  const { budget, name, maxAttempts } = config;
  return {
    name,
    wrap(next: Service<Req, Res>): Service<Req, Res> {
      // Its backoff waits end on cancellation, so retrying keeps the promptness of what it retries.
      return inheritCancelsPromptly(next, retryService(next));
    },
    describe: () => ({
      maxAttempts,
      ...(budget === undefined ? {} : { budget: budget.describe() }),
    }),
  };

  function retryService(next: Service<Req, Res>): Service<Req, Res> {
    const loop = retryLoop(next, config);
    if (config.retryOnResult !== undefined || maxAttempts === 1) {
      return (req, ctx) => {
        budget?.deposit();
        return loop(req, ctx, 1, undefined);
      };
    }
    // The fast path, fusable by the layer above: guards directly below run in the same `.then`, and
    // the retry loop starts only after a failure.
    const below = pipelineOf(next);
    const guards = below instanceof GuardChain ? below : undefined;
    const recover = (error: unknown, req: Req, ctx: CallContext): Promise<Res> => {
      guards?.settleErr(error);
      return loop(req, ctx, 1, { ok: false, error });
    };
    const pipeline: Pipeline<Req, Res> = {
      recovers: true,
      inner: guards === undefined ? next : guards.inner,
      tryEnter() {
        if (attemptsObserved() || (guards !== undefined && !guards.tryEnter())) return false;
        budget?.deposit();
        return true;
      },
      settleOk(value) {
        guards?.settleOk(value);
      },
      settleErr: recover,
    };
    const inner = pipeline.inner;
    const onOk = guards?.onOk;
    return withPipeline((req, ctx) => {
      if (pipeline.tryEnter()) {
        return start(inner, req, ctx).then(onOk, (error: unknown) => recover(error, req, ctx));
      }
      budget?.deposit();
      if (attemptsObserved()) return loop(req, ctx, 1, undefined);
      return next(req, ctx).then(undefined, (error: unknown) => loop(req, ctx, 1, { ok: false, error }));
    }, pipeline);
  }
}

/**
 * The slow path: runs attempts from `attempt` on (or first judges `outcome`, the failure of attempt
 * `attempt` that the fast path already saw) until one is kept.
 */
function retryLoop<Req, Res>(
  next: Service<Req, Res>,
  config: RetryConfig<Res>,
): (req: Req, ctx: CallContext, attempt: number, outcome: Outcome<Res> | undefined) => Promise<Res> {
  const { name, maxAttempts, retryOnResult } = config;
  const runAttempt = (
    req: Req,
    ctx: CallContext,
    attempt: number,
    tried: readonly string[] | undefined,
  ): Promise<Res> => {
    let actx = attempt === 1 ? ctx : ctx.with({ attempt });
    // The balancer prefers an endpoint this call has not failed on yet (Envoy's previous_hosts).
    if (tried !== undefined) actx = actx.set(previousEndpoints, tried);
    return attemptsObserved() ? observedAttempt(next, req, actx, name) : next(req, actx);
  };
  return async (req, ctx, attempt, outcome) => {
    let previousMs = 0;
    let tried: readonly string[] | undefined;
    for (;;) {
      if (outcome === undefined) {
        try {
          const value = await runAttempt(req, ctx, attempt, tried);
          if (retryOnResult === undefined || attempt >= maxAttempts || !retryOnResult(value, ctx)) {
            return value;
          }
          outcome = { ok: true, value };
        } catch (error) {
          outcome = { ok: false, error };
        }
      }
      const delayMs = nextDelay(config, req, ctx, attempt, previousMs, outcome);
      if (delayMs === undefined) {
        if (outcome.ok) return outcome.value;
        throw outcome.error;
      }
      if (channels.retryScheduled.hasSubscribers) {
        channels.retryScheduled.publish({
          layer: name,
          attempt: attempt + 1,
          delayMs,
          error: outcome.ok ? undefined : outcome.error,
        });
      }
      if (delayMs > 0) {
        try {
          // The call waits on the backoff (no socket is open meanwhile): its timer keeps the process alive.
          await sleep(ctx.clock, delayMs, ctx.signal, { ref: true });
        } catch (reason) {
          throw toAbortError(reason);
        }
      }
      const failedOn = outcome.ok ? undefined : failedEndpointOf(outcome.error);
      if (failedOn !== undefined && tried?.includes(failedOn) !== true) tried = [...(tried ?? []), failedOn];
      previousMs = delayMs;
      attempt++;
      outcome = undefined;
    }
  };
}

/**
 * Decides whether attempt `attempt`'s outcome is retried: the delay before the next attempt, or
 * `undefined` to keep the outcome. Throws for a cancelled call and for an exhausted budget.
 */
function nextDelay<Res>(
  config: RetryConfig<Res>,
  req: unknown,
  ctx: CallContext,
  attempt: number,
  previousMs: number,
  outcome: Outcome<Res>,
): number | undefined {
  const error = outcome.ok ? undefined : outcome.error;
  if (ctx.aborted) {
    if (outcome.ok) return undefined;
    throw toAbortError(ctx.abortReason);
  }
  if (attempt >= config.maxAttempts) return undefined;
  if (!outcome.ok && (isAbortError(error) || !config.retryOn(error, ctx))) return undefined;
  if (!config.retryNonIdempotent && !isSafeToRepeat(outcome.ok ? undefined : error, ctx)) return undefined;
  // Whether the request can be sent again is the policy's question: a consumed stream cannot.
  if ((outcome.ok || !neverSent(error)) && !config.canReplay(req, ctx)) return undefined;
  const now = ctx.clock.now();
  const pushback = outcome.ok ? undefined : pushbackMs(error, now);
  if (pushback === Infinity) return undefined;
  const wanted = pushback ?? config.backoff.delayMs(attempt, previousMs);
  const delayMs = Math.max(0, Math.min(config.maxDelayMs, wanted));
  if (ctx.deadline !== undefined && now + delayMs >= ctx.deadline) return undefined;
  const budget = config.budget;
  if (budget !== undefined && !budget.tryWithdraw()) {
    if (channels.budgetExhausted.hasSubscribers) {
      channels.budgetExhausted.publish({ layer: config.name, budget: budget.name, error });
    }
    if (outcome.ok) return undefined;
    throw new MeshError(ErrorCode.RETRY_BUDGET, `retry budget exhausted (${budget.name}); not retried`, {
      cause: error,
      details: { layer: config.name, budget: budget.name },
    });
  }
  return delayMs;
}
