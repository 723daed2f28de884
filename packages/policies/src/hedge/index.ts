import {
  abortError,
  attemptKindKey,
  type CallContext,
  type CancelHandle,
  channels,
  isAbortError,
  type Layer,
  type Service,
} from '@meshkit/core';
import { type TimerEntry, timerQueueFor } from '@meshkit/core/internal';
import { isRetryableError } from '../retry/options.ts';
import { LatencyWindow } from './latency.ts';
import { type HedgeConfig, type HedgeOptions, resolveHedgeOptions } from './options.ts';

export type { HedgeOptions } from './options.ts';

/**
 * Hedged requests ("The Tail at Scale"): if the first attempt has not answered after a delay (fixed, or a
 * percentile of recent latencies), send another, up to `maxHedges` extra; the first success wins and
 * every other attempt is aborted through its own cancellation scope. A retryable failure fires the next
 * hedge at once; a non-retryable one ends the call. Only calls marked idempotent are hedged; any other
 * call passes straight through. With a `budget`, each extra attempt spends a token, so hedging backs off
 * when the downstream is struggling. Every hedge is published on `channels.hedgeFired`.
 *
 * @example
 * ```ts
 * import { stack } from '@meshkit/core';
 * import { type HttpRequest, type HttpResponse, httpTransport } from '@meshkit/http';
 * const service = httpTransport('127.0.0.1:8080');
 * const budget = new RetryBudget();
 * const call = stack<HttpRequest, HttpResponse>(hedge({ percentile: 0.95, budget }), timeout({ timeoutMs: 1_000 })).wrap(service);
 * ```
 */
export function hedge<Req, Res>(options?: HedgeOptions): Layer<Req, Res> {
  const config = resolveHedgeOptions(options);
  const { delay, budget, name, maxHedges } = config;
  const deposit = config.deposit ? budget : undefined;
  const window =
    delay.kind === 'percentile' ? new LatencyWindow(delay.sampleSize, delay.percentile) : undefined;
  const currentDelay = (): number => {
    if (delay.kind === 'fixed') return delay.delayMs;
    const p = window!.value;
    return p === undefined ? delay.maxDelayMs : Math.min(delay.maxDelayMs, Math.max(delay.minDelayMs, p));
  };
  return {
    name,
    wrap(next: Service<Req, Res>): Service<Req, Res> {
      return (req, ctx) => {
        deposit?.deposit();
        // A request stream cannot be sent twice at once: such calls pass straight through.
        const kind = ctx.kind;
        if (!ctx.idempotent || maxHedges === 0 || kind === 'client-stream' || kind === 'bidi') {
          return next(req, ctx);
        }
        return hedged(next, req, ctx, config, currentDelay(), window);
      };
    },
    describe: () => ({
      maxHedges,
      delayMs: currentDelay(),
      ...(window === undefined ? {} : { samples: window.count }),
      ...(budget === undefined ? {} : { budget: budget.describe() }),
    }),
  };
}

function hedged<Req, Res>(
  next: Service<Req, Res>,
  req: Req,
  ctx: CallContext,
  config: HedgeConfig,
  delayMs: number,
  window: LatencyWindow | undefined,
): Promise<Res> {
  const { maxHedges, budget, name } = config;
  const clock = ctx.clock;
  // The hedge delay is a wait the call depends on: its timer keeps the process alive.
  const timers = timerQueueFor(clock, { ref: true });
  return new Promise<Res>((resolve, reject) => {
    const scopes: CancelHandle[] = [];
    let inFlight = 0;
    let hedges = 0;
    let settled = false;
    let timer: TimerEntry | undefined;

    const finish = (winner: CancelHandle | undefined): void => {
      settled = true;
      timer?.cancel();
      for (const scope of scopes) {
        if (scope !== winner) scope.cancel(abortError('lost the hedge race'));
      }
    };

    const launch = (attempt: number): void => {
      const scope = ctx.withCancel();
      scopes.push(scope);
      inFlight++;
      const start = clock.now();
      let work: Promise<Res>;
      try {
        work = next(
          req,
          attempt === 1 ? scope.ctx : scope.ctx.with({ attempt }).set(attemptKindKey, 'hedge'),
        );
      } catch (error) {
        work = Promise.reject(error);
      }
      work.then(
        (value) => {
          inFlight--;
          if (settled) return;
          window?.record(clock.now() - start);
          finish(scope);
          resolve(value);
        },
        (error: unknown) => {
          inFlight--;
          if (settled) return;
          const fatal = ctx.aborted || isAbortError(error) || !isRetryableError(error);
          if (!fatal && hedges < maxHedges && fire()) return;
          if (fatal || inFlight === 0) {
            finish(undefined);
            reject(error);
          }
        },
      );
    };

    /** Starts one more attempt if the budget allows; `false` when it does not. */
    const fire = (): boolean => {
      if (budget !== undefined && !budget.tryWithdraw()) {
        if (channels.budgetExhausted.hasSubscribers) {
          channels.budgetExhausted.publish({ layer: name, budget: budget.name });
        }
        return false;
      }
      hedges++;
      if (channels.hedgeFired.hasSubscribers)
        channels.hedgeFired.publish({ layer: name, hedge: hedges, delayMs });
      launch(hedges + 1);
      return true;
    };

    const onTimer = (): void => {
      timer = undefined;
      if (settled || ctx.aborted || hedges >= maxHedges) return;
      if (fire() && hedges < maxHedges) timer = timers.schedule(delayMs, onTimer);
    };

    launch(1);
    if (!settled) timer = timers.schedule(delayMs, onTimer);
  });
}
