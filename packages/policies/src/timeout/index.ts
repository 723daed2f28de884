import type { AnyLayer, Service } from '@meshkit/core';
import { expiring } from './expiry.ts';
import { type DeadlineOptions, resolveExpiryOptions, type TimeoutOptions } from './options.ts';

export type { DeadlineOptions, TimeoutOptions } from './options.ts';

/**
 * A per-attempt timeout. Each call gets `timeoutMs` (or less, when the context's deadline is sooner); the
 * child context's deadline shows the limit to everything downstream. On expiry the call rejects at once
 * with `ERR_TIMEOUT` (retryable), or `ERR_DEADLINE_EXCEEDED` when the context's deadline is what ran
 * out, and the work is aborted through its context's signal (over a service marked with
 * `markCancelsPromptly`, the call rejects as the aborted work does, with the same error, and the timeout
 * makes no promise of its own). A call that finishes in time pays for no
 * `AbortController` and no Node timer: the timer is an entry on the clock's shared `TimerQueue`.
 *
 * @example
 * ```ts
 * import { stack } from '@meshkit/core';
 * import { type HttpRequest, type HttpResponse, httpTransport } from '@meshkit/http';
 * const service = httpTransport('127.0.0.1:8080');
 * const call = stack<HttpRequest, HttpResponse>(retry({ maxAttempts: 3 }), timeout({ timeoutMs: 500 })).wrap(service);
 * ```
 */
export function timeout<Req, Res>(options: TimeoutOptions): AnyLayer<Req, Res> {
  const { timeoutMs, name } = resolveExpiryOptions('timeout', options);
  return {
    name,
    wrap: (next: Service<Req, Res>) => expiring(next, timeoutMs, 'attempt', name),
    describe: () => ({ timeoutMs }),
  };
}

/**
 * An overall deadline: shrinks `ctx.deadline` to at most `timeoutMs` from now for everything downstream
 * (retries, per-attempt timeouts, transports that propagate it). On expiry the call rejects with
 * `ERR_DEADLINE_EXCEEDED` and the work is aborted. A call whose deadline has already passed is rejected
 * at once, without calling the next service.
 *
 * @example
 * ```ts
 * import { stack } from '@meshkit/core';
 * import { type HttpRequest, type HttpResponse, httpTransport } from '@meshkit/http';
 * const service = httpTransport('127.0.0.1:8080');
 * const call = stack<HttpRequest, HttpResponse>(deadline({ timeoutMs: 2_000 }), retry(), timeout({ timeoutMs: 500 })).wrap(service);
 * ```
 */
export function deadline<Req, Res>(options: DeadlineOptions): AnyLayer<Req, Res> {
  const { timeoutMs, name } = resolveExpiryOptions('deadline', options);
  return {
    name,
    wrap: (next: Service<Req, Res>) => expiring(next, timeoutMs, 'deadline', name),
    describe: () => ({ timeoutMs }),
  };
}
