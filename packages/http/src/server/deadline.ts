import {
  ErrorCode,
  InvalidArgumentError,
  inheritCancelsPromptly,
  type Layer,
  MeshError,
} from '@meshkit/core';
import type { IncomingCall } from './call.ts';

/** Options of {@link deadlineLayer}. */
export interface DeadlineLayerOptions {
  /** Names the timeout's source in the 400 for a malformed value, e.g. `header:x-meshkit-timeout-ms`. */
  readonly field: string;
}

/**
 * The server's deadline step: the caller's remaining time (`call.timeoutMs`, read by the adapter from
 * its transport's header) becomes the deadline of the context the next service gets. A call whose
 * budget is already spent is refused before any work with `ERR_DEADLINE_EXCEEDED` and `rejected`; a
 * malformed value is an `InvalidArgumentError` naming `field`. Transport-neutral: an HTTP and a gRPC
 * server share it.
 */
export function deadlineLayer<Req extends IncomingCall, Res>(options: DeadlineLayerOptions): Layer<Req, Res> {
  const { field } = options;
  return {
    name: 'deadline',
    wrap(next) {
      return inheritCancelsPromptly(next, (call, ctx) => {
        const timeoutMs = call.timeoutMs;
        if (timeoutMs === undefined) return next(call, ctx);
        if (timeoutMs === null) {
          return Promise.reject(new InvalidArgumentError(field, 'must be a whole number of milliseconds'));
        }
        if (timeoutMs <= 0) {
          return Promise.reject(
            new MeshError(ErrorCode.DEADLINE_EXCEEDED, "the caller's deadline had passed on arrival", {
              rejected: true,
            }),
          );
        }
        return next(call, ctx.withTimeout(timeoutMs));
      });
    },
  };
}
