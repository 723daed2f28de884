import { type CallContext, type Service, sleep } from '@meshkit/core';

/** One scripted outcome: a value, an error to throw, or a function computing either. */
export type Step<Req, Res> =
  | { readonly ok: Res; readonly delayMs?: number }
  | { readonly fail: unknown; readonly delayMs?: number }
  | ((req: Req, ctx: CallContext) => Promise<Res>);

/** A record of one call made to a {@link scripted} service. */
export interface ScriptedCall<Req> {
  readonly req: Req;
  readonly ctx: CallContext;
  readonly at: number;
  /** `true` once the call's signal aborted (read lazily so the call pays for a signal only when asked). */
  readonly aborted: () => boolean;
}

/** A service that replays a script of outcomes and records every call; for policy tests. */
export interface ScriptedService<Req, Res> extends Service<Req, Res> {
  readonly calls: ScriptedCall<Req>[];
}

/**
 * Builds a service that answers call `i` with `steps[i]` (the last step repeats). A step with
 * `delayMs` waits on the context's clock and honours the call's signal, as a well-behaved transport does.
 *
 * @example
 * ```ts
 * const svc = scripted([{ fail: new Error('boom') }, { ok: 'hello' }]);
 * ```
 */
export function scripted<Req, Res>(steps: readonly Step<Req, Res>[]): ScriptedService<Req, Res> {
  if (steps.length === 0) throw new TypeError('scripted: steps must not be empty');
  const calls: ScriptedCall<Req>[] = [];
  const service = (async (req: Req, ctx: CallContext): Promise<Res> => {
    const index = Math.min(calls.length, steps.length - 1);
    calls.push({ req, ctx, at: ctx.clock.now(), aborted: () => ctx.aborted });
    const step = steps[index]!;
    if (typeof step === 'function') return step(req, ctx);
    if (step.delayMs !== undefined && step.delayMs > 0) await delay(ctx, step.delayMs);
    if ('fail' in step) throw step.fail;
    return step.ok;
  }) as ScriptedService<Req, Res>;
  Object.defineProperty(service, 'calls', { value: calls });
  return service;
}

/** Waits `ms` on the context's clock; rejects with the abort reason if the call is cancelled. */
export function delay(ctx: CallContext, ms: number): Promise<void> {
  return sleep(ctx.clock, ms, ctx.signal, { ref: true });
}
