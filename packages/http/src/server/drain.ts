import { ErrorCode, inheritCancelsPromptly, type Layer, MeshError } from '@meshkit/core';
import type { Lifecycle } from './lifecycle.ts';

/**
 * The server's drain step: while `lifecycle` is shutting down, a call is refused before any work with
 * `ERR_CLOSED`, `rejected` (so the caller may send it elsewhere, whatever the method) and a retry hint of
 * 1 s; otherwise the call counts as in flight until its result settles, and shutdown waits for it.
 * Transport-neutral: it reads nothing of the request, so an HTTP and a gRPC server share it.
 *
 * @example
 * ```ts
 * import { stack } from '@meshkit/core';
 * declare const lifecycle: Lifecycle;
 * declare const handler: HttpCallService;
 * const service = stack<HttpCall, HttpReply>(
 *   drainLayer(lifecycle),
 *   deadlineLayer({ field: 'header:x-meshkit-timeout-ms' }),
 * ).wrap(handler);
 * ```
 */
export function drainLayer<Req, Res>(lifecycle: Lifecycle): Layer<Req, Res> {
  return {
    name: 'drain',
    wrap(next) {
      return inheritCancelsPromptly(next, async (req, ctx) => {
        if (lifecycle.draining) {
          throw new MeshError(ErrorCode.CLOSED, 'the server is shutting down', {
            retryable: true,
            rejected: true,
            details: { retryAfterMs: 1_000 },
          });
        }
        lifecycle.begin();
        try {
          return await next(req, ctx);
        } finally {
          lifecycle.end();
        }
      });
    },
    describe: () => ({ draining: lifecycle.draining, inFlight: lifecycle.inFlight }),
  };
}
