import {
  type CallContext,
  completable,
  ErrorCode,
  isAbortError,
  isMeshError,
  MeshError,
} from '@meshkit/core';
import type { Dispatcher } from 'undici';
import { responseTooLarge, statusError } from './errors.ts';
import { declaredOverLimit, dispatchOptions, failure, statusErrorOptions, type Target } from './exchange.ts';
import type { HttpRequest, HttpResponse, HttpResponseBody } from './types.ts';

/** An exchange whose response body stays a stream (`request()`). */
export async function sendStreaming(
  target: Target,
  req: HttpRequest,
  ctx: CallContext,
): Promise<HttpResponse> {
  const options = dispatchOptions(target, req, ctx) as Dispatcher.RequestOptions;
  let response: Dispatcher.ResponseData;
  try {
    response = await target.pool.request({
      ...options,
      signal: ctx.cancellable ? (new ContextAbort(ctx) as unknown as AbortSignal) : undefined,
    });
  } catch (error) {
    throw failure(error, ctx, target);
  }
  const body = response.body as unknown as HttpResponseBody;
  if (response.statusCode >= 400) {
    throw await statusError(
      response.statusCode,
      response.headers,
      body,
      statusErrorOptions(target, ctx, req),
    );
  }
  const declared = declaredOverLimit(target, response.headers);
  if (declared !== undefined) {
    // Destroying the body closes the connection: the rest of it is never transferred.
    const error = responseTooLarge(target.origin, target.maxResponseBytes!, declared);
    body.destroy(error);
    throw error;
  }
  if (target.maxResponseBytes !== undefined) reportOversize(body, target.origin, target.maxResponseBytes);
  const result: HttpResponse = { status: response.statusCode, headers: response.headers, body };
  // The call is over when the body is: read to its end, failed, cancelled or dumped. Until then the
  // deadline above can still fire and abort it, and the layers that hold something for it keep it.
  // With nothing above to cancel it (the transport used on its own), the body keeps its own timer for
  // the deadline: undici's headers timeout ended at the headers.
  const stopTimer = ctx.cancellable ? undefined : bodyDeadline(ctx, target.origin, body);
  const completion = completable(result);
  body.once('close', () => {
    stopTimer?.();
    completion.complete(body.errored ?? undefined);
  });
  return result;
}

/**
 * undici counts the body against `maxResponseSize` and, past it, destroys the socket and then the body
 * with its own error; the body's reader gets meshkit's error naming the limit instead.
 */
function reportOversize(body: HttpResponseBody, origin: string, limit: number): void {
  const destroy = body.destroy;
  body.destroy = function (this: HttpResponseBody, error?: Error) {
    const code = (error as { code?: unknown } | undefined)?.code;
    return destroy.call(
      this,
      code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE' ? responseTooLarge(origin, limit) : error,
    ) as HttpResponseBody;
  } as HttpResponseBody['destroy'];
}

/** Destroys `body` with `ERR_DEADLINE_EXCEEDED` when the context's deadline passes; returns the stop. */
function bodyDeadline(ctx: CallContext, origin: string, body: HttpResponseBody): (() => void) | undefined {
  if (ctx.deadline === undefined) return undefined;
  const clock = ctx.clock;
  const timer = clock.setTimeout(
    () => {
      body.destroy(
        new MeshError(ErrorCode.DEADLINE_EXCEEDED, `deadline passed reading the body from ${origin}`, {
          details: { address: origin },
        }),
      );
    },
    Math.max(0, ctx.remainingMs()),
  );
  return () => clock.clearTimeout(timer);
}

/**
 * The part of an event target undici uses for `signal`, backed by `ctx.onAbort`: undici registers one
 * listener when the request starts and removes it when the response ends, so the cancel scope's hook
 * lives exactly as long as the request. No `aborted` property: undici would then insist on a real
 * `AbortSignal` (the transport checks `ctx.aborted` before sending instead).
 */
class ContextAbort {
  readonly #ctx: CallContext;
  #unregister: (() => void) | undefined;
  constructor(ctx: CallContext) {
    this.#ctx = ctx;
  }
  /**
   * What undici fails the request, or destroys a body already streaming, with: an expired deadline or
   * timeout as its own `MeshError` (the reason a timeout aborts with is an `AbortError` caused by it), a
   * cancellation as the `AbortError`.
   */
  get reason(): unknown {
    const reason = this.#ctx.abortReason;
    const cause = (reason as { cause?: unknown } | undefined)?.cause;
    return isAbortError(reason) &&
      isMeshError(cause) &&
      (cause.code === ErrorCode.DEADLINE_EXCEEDED || cause.code === ErrorCode.TIMEOUT)
      ? cause
      : reason;
  }
  addEventListener(_type: 'abort', listener: () => void): void {
    this.#unregister?.();
    this.#unregister = this.#ctx.onAbort(listener);
  }
  removeEventListener(): void {
    this.#unregister?.();
    this.#unregister = undefined;
  }
}
