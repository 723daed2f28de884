import { type ContextKey, contextKey } from './context.ts';

/**
 * The endpoints earlier attempts of this call failed on (their ids, oldest first), set by the retry layer
 * on every attempt after the first. The balancer and the P2C pickers prefer an endpoint not in it when
 * there is one (Envoy's `previous_hosts` retry predicate), so a retry does not go back to the instance
 * that just failed.
 *
 * @example
 * ```ts
 * declare const ctx: CallContext;
 * const avoid = ctx.get(previousEndpoints) ?? [];
 * ```
 */
export const previousEndpoints: ContextKey<readonly string[]> =
  contextKey<readonly string[]>('meshkit.previousEndpoints');

const failedOn = new WeakMap<object, string>();

/**
 * Remembers that `error` came from the endpoint `endpointId` (the balancer calls this for every failed
 * call), so the retry layer can add it to {@link previousEndpoints}. Errors that are not objects are not
 * remembered.
 */
export function noteFailedEndpoint(error: unknown, endpointId: string): void {
  if (typeof error === 'object' && error !== null && !failedOn.has(error)) failedOn.set(error, endpointId);
}

/** The endpoint `error` came from, when the balancer noted it. */
export function failedEndpointOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? failedOn.get(error) : undefined;
}
