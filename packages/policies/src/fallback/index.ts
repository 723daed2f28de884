import { channels, type Layer, type Service } from '@meshkit/core';
import { type FallbackOptions, resolveFallbackOptions } from './options.ts';

export type { FallbackOptions } from './options.ts';

/**
 * Replaces a failure with an answer: a fixed `value`, or one computed `fromError`. Only failures that
 * `when` accepts are replaced (a cancellation never is, nor any failure of a call its caller aborted);
 * others pass through. Each replacement is
 * published on `channels.fallback`, so a fallback never hides a failure from the metrics.
 *
 * @example
 * ```ts
 * import { type Service, stack } from '@meshkit/core';
 * interface Product { readonly id: string; readonly name: string }
 * declare const recommendationService: Service<{ userId: string }, Product[]>;
 * const recommendations = stack<{ userId: string }, Product[]>(
 *   fallback({ value: [] as Product[] }),
 *   timeout({ timeoutMs: 200 }),
 * ).wrap(recommendationService);
 * ```
 */
export function fallback<Req, Res>(options: FallbackOptions<Res>): Layer<Req, Res> {
  const { fromError, when, name } = resolveFallbackOptions(options);
  const onError = (error: unknown): Res | Promise<Res> => {
    if (!when(error)) throw error;
    if (channels.fallback.hasSubscribers) channels.fallback.publish({ layer: name, error });
    return fromError(error);
  };
  return {
    name,
    wrap:
      (next: Service<Req, Res>): Service<Req, Res> =>
      (req, ctx) =>
        // The caller's own abort is never replaced, whatever error the work below turned it into.
        next(req, ctx).then(undefined, (error: unknown) =>
          ctx.aborted ? Promise.reject(error) : onError(error),
        ),
  };
}
