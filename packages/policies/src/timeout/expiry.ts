import {
  type CallContext,
  type Clock,
  channels,
  ErrorCode,
  MeshError,
  type Service,
  type TimerQueue,
  timerQueueFor,
} from '@meshkit/core';
import { coarseNow } from '../internal/coarse-clock.ts';
import { toAbortError } from '../internal/errors.ts';
import { pipelineOf, start } from '../internal/pipeline.ts';

/**
 * The mechanism behind `timeout()` and `deadline()`: run the work in its own cancellation scope with the
 * shrunk deadline, arm one entry on the clock's shared {@link timerQueueFor} queue, and on expiry reject
 * at once and abort the work. On success the entry is dropped (an O(1) flag) and nothing is aborted.
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

export function expiring<Req, Res>(
  next: Service<Req, Res>,
  timeoutMs: number,
  kind: ExpiryKind,
  layer: string,
): Service<Req, Res> {
  // The queue of the last clock seen: one clock per process is the rule, so this skips a WeakMap lookup.
  const below = pipelineOf(next);
  let lastClock: Clock | undefined;
  let queue: TimerQueue | undefined;
  return (req: Req, ctx: CallContext): Promise<Res> => {
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
    const timers = queue!;
    return new Promise<Res>((resolve, reject) => {
      const sctx = scope.ctx;
      // Run the fast path of the layers below inline when they allow it (see internal/pipeline.ts).
      const fast = below?.tryEnter() ? below : undefined;
      const work = fast === undefined ? next(req, sctx) : start(fast.inner, req, sctx);
      const entry = timers.schedule(
        delayMs,
        () => {
          const error = expiredError(byDeadline, layer, timeoutMs);
          if (channels.timeout.hasSubscribers) {
            channels.timeout.publish({
              layer,
              kind: byDeadline ? 'deadline' : 'attempt',
              timeoutMs: delayMs,
            });
          }
          reject(error);
          scope.cancel(toAbortError(error));
        },
        now,
      );
      // Two reaction closures and nothing else per call: this is the hot path of every stack.
      if (fast === undefined) {
        work.then(
          (value) => {
            entry.cancel();
            resolve(value);
          },
          (error: unknown) => {
            entry.cancel();
            reject(error);
          },
        );
        return;
      }
      work.then(
        (value) => {
          fast.settleOk(value);
          entry.cancel();
          resolve(value);
        },
        (error: unknown) => {
          const recovery = fast.settleErr(error, req, sctx);
          if (recovery === undefined) {
            entry.cancel();
            reject(error);
            return;
          }
          recovery.then(
            (value) => {
              entry.cancel();
              resolve(value);
            },
            (final: unknown) => {
              entry.cancel();
              reject(final);
            },
          );
        },
      );
    });
  };
}
