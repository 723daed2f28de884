import {
  type CallContext,
  type CancelHandle,
  type Clock,
  cancelsPromptly,
  channels,
  completionOf,
  ErrorCode,
  inheritCancelsPromptly,
  MeshError,
  type Service,
  type TimerQueue,
  TimerTask,
  timerQueueFor,
} from '@meshkit/core';
import { coarseNow } from '../internal/coarse-clock.ts';
import { toAbortError } from '../internal/errors.ts';
import { type Pipeline, pipelineOf } from '../internal/pipeline.ts';

/**
 * The mechanism behind `timeout()` and `deadline()`: run the work in its own cancellation scope with the
 * shrunk deadline, put the call's state on the clock's shared {@link timerQueueFor} queue, and on expiry
 * reject at once and abort the work. On success the entry is dropped (an O(1) flag) and nothing is
 * aborted. Over work marked with `markCancelsPromptly` there is no promise to reject: expiry aborts the
 * work, and its outcome passes through `passOk`/`passErr`, mapped to the expiry's error once it fired.
 */

export type ExpiryKind = 'attempt' | 'deadline';

/** The error for an expiry; `byDeadline` when the (possibly upstream) deadline is what ran out. */
export function expiredError(byDeadline: boolean, layer: string, timeoutMs: number): MeshError {
  return byDeadline
    ? new MeshError(ErrorCode.DEADLINE_EXCEEDED, `deadline exceeded (${layer})`, {
        details: { layer, timeoutMs },
      })
    : new MeshError(ErrorCode.TIMEOUT, `attempt timed out after ${timeoutMs} ms (${layer})`, {
        retryable: true,
        details: { layer, timeoutMs },
      });
}

const noop = (): void => {};

/** What every call of one timeout layer shares. */
interface ExpiryLayer {
  readonly layer: string;
  readonly timeoutMs: number;
}

/**
 * One call's state, which is also its entry on the timer queue. The call's promise settles through it
 * when the work settles (`ok`/`err`) or when it falls due (`fire`), whichever comes first. Per call
 * there is this object, the child context, the promise and the two reactions to the work: no separate
 * timer entry, no timer closure, and no closure context holding an epoch time (a boxed number).
 *
 * Fields are `declare`d and assigned in the constructor: field initializers in a subclass cost about
 * as much again as the construction itself on Node 24 (see `TimerTask`), and this runs once per call.
 */
class Expiry<Req, Res> extends TimerTask {
  declare private readonly config: ExpiryLayer;
  declare private readonly byDeadline: boolean;
  declare private readonly delayMs: number;
  declare private readonly scope: CancelHandle;
  /** The fast path of the layers below that this call runs inline, if it does (see internal/pipeline.ts). */
  declare private readonly fast: Pipeline<Req, Res> | undefined;
  declare private readonly req: Req;
  declare private resolve: (value: Res) => void;
  declare private reject: (error: unknown) => void;
  /** The error of the expiry, once it fired. */
  declare private expired: MeshError | undefined;

  constructor(
    config: ExpiryLayer,
    byDeadline: boolean,
    delayMs: number,
    scope: CancelHandle,
    fast: Pipeline<Req, Res> | undefined,
    req: Req,
  ) {
    super();
    this.config = config;
    this.byDeadline = byDeadline;
    this.delayMs = delayMs;
    this.scope = scope;
    this.fast = fast;
    this.req = req;
    this.resolve = noop;
    this.reject = noop;
    this.expired = undefined;
  }

  /** The executor of the call's promise: keeps its resolving functions. */
  settleThrough(resolve: (value: Res) => void, reject: (error: unknown) => void): void {
    this.resolve = resolve;
    this.reject = reject;
  }

  // Racing (work that may ignore its signal): the call's promise settles through these. Once the expiry
  // fired, that promise is already rejected, and settling it again does nothing.

  /** The work succeeded. */
  ok(value: Res): void {
    let outcome: Res;
    try {
      outcome = this.passOk(value);
    } catch (error) {
      this.reject(error);
      return;
    }
    this.resolve(outcome);
  }

  /** The work failed: fail too, unless a fused retry below recovers. */
  err(error: unknown): void {
    let outcome: Promise<Res>;
    try {
      outcome = this.passErr(error);
    } catch (final) {
      this.reject(final);
      return;
    }
    outcome.then(this.resolve, this.reject);
  }

  /** Fell due first: reject at once, then abort the work, which may or may not honour its signal. */
  fire(): void {
    const { layer, timeoutMs } = this.config;
    const byDeadline = this.byDeadline;
    const error = expiredError(byDeadline, layer, timeoutMs);
    if (channels.timeout.hasSubscribers) {
      channels.timeout.publish({
        layer,
        kind: byDeadline ? 'deadline' : 'attempt',
        timeoutMs: this.delayMs,
      });
    }
    this.expired = error;
    this.reject(error);
    this.scope.cancel(toAbortError(error));
  }

  // Without a promise of its own (the work cancels promptly), the outcome passes through these; the
  // racing path settles its promise with what they give.

  /** The work succeeded: its value, or the expiry's error if that fired first. */
  passOk(value: Res): Res {
    this.fast?.settleOk(value);
    this.#endWith(value);
    if (this.expired !== undefined) throw this.expired;
    return value;
  }

  /**
   * Drops the timer when the call is over: now for a unary result; for a streamed one when the stream
   * ends, so the timer can still fire and abort the stream through the call's scope.
   */
  #endWith(value: Res): void {
    const completion = completionOf(value);
    if (completion === undefined) this.cancel();
    else completion.onDone(() => this.cancel());
  }

  /** The work failed: a fused retry below may recover, else the failure (or the expiry's error). */
  passErr(error: unknown): Promise<Res> {
    const recovery = this.fast?.settleErr(error, this.req, this.scope.ctx);
    if (recovery === undefined) {
      this.cancel();
      throw this.expired ?? error;
    }
    return recovery.then(
      (value) => {
        this.#endWith(value);
        if (this.expired !== undefined) throw this.expired;
        return value;
      },
      (final: unknown) => {
        this.cancel();
        throw this.expired ?? final;
      },
    );
  }
}

export function expiring<Req, Res>(
  next: Service<Req, Res>,
  timeoutMs: number,
  kind: ExpiryKind,
  layer: string,
): Service<Req, Res> {
  const config: ExpiryLayer = { layer, timeoutMs };
  const below = pipelineOf(next);
  // Over work that settles promptly once cancelled, aborting it is enough: its own rejection arrives at
  // once, so the call needs no promise of its own to reject at expiry (about 300 bytes less per call).
  const cooperative = cancelsPromptly(next);
  // The queue of the last clock seen: one clock per process is the rule, so this skips a WeakMap lookup.
  let lastClock: Clock | undefined;
  let queue: TimerQueue | undefined;
  const service = (req: Req, ctx: CallContext): Promise<Res> => {
    const clock = ctx.clock;
    if (clock !== lastClock) {
      lastClock = clock;
      queue = timerQueueFor(clock);
    }
    const now = coarseNow(clock);
    let due = now + timeoutMs;
    let byDeadline = kind === 'deadline';
    const upstream = ctx.deadline;
    if (upstream !== undefined && upstream <= due) {
      due = upstream;
      byDeadline = true;
    }
    const delayMs = due - now;
    if (delayMs <= 0) return Promise.reject(expiredError(true, layer, timeoutMs));
    const scope = ctx.withCancel(due);
    // Run the fast path of the layers below inline when they allow it (see internal/pipeline.ts).
    const fast = below?.tryEnter() ? below : undefined;
    // The closures below capture `expiry` alone: one small context per call, and no per-call variable
    // (epoch times among them) is kept in a context.
    const expiry = new Expiry(config, byDeadline, delayMs, scope, fast, req);
    // Started here rather than through `start()`: what the optimizer inlines into this function is
    // bounded, and the call's own code does not count against that bound (see docs/policies.md, Cost).
    let work: Promise<Res>;
    try {
      work = (fast === undefined ? next : fast.inner)(req, scope.ctx);
    } catch (error) {
      work = Promise.reject(error);
    }
    queue!.add(expiry, delayMs, now);
    if (cooperative) {
      return work.then(
        (value) => expiry.passOk(value),
        (error: unknown) => expiry.passErr(error),
      );
    }
    const promise = new Promise<Res>((resolve, reject) => expiry.settleThrough(resolve, reject));
    work.then(
      (value) => expiry.ok(value),
      (error: unknown) => expiry.err(error),
    );
    return promise;
  };
  return inheritCancelsPromptly(next, service);
}
