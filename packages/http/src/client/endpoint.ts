import type { EndpointService } from '@meshkit/balance';
import { type AnyLayer, type Endpoint, inheritCancelsPromptly, type Readiness } from '@meshkit/core';
import type { CircuitBreaker } from '@meshkit/policies';
import { httpTransport, type ResolvedTransportOptions } from '../transport.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';

/**
 * Builds the service for one endpoint: its own circuit breaker (so one bad instance opens only its own
 * circuit), the per-attempt timeout, then the undici transport. An open circuit reports the endpoint
 * `closed`, so the balancer skips it before sending anything.
 */
export function endpointService(
  endpoint: Endpoint,
  transport: ResolvedTransportOptions,
  breaker: CircuitBreaker<HttpRequest, HttpResponse> | undefined,
  attemptTimeout: AnyLayer<HttpRequest, HttpResponse> | undefined,
): EndpointService<HttpRequest, HttpResponse> {
  const base = httpTransport(endpoint.address, transport);
  let service = attemptTimeout === undefined ? base : attemptTimeout.wrap(base);
  if (breaker !== undefined) service = breaker.wrap(service);
  const readiness = (): Readiness => {
    const state = breaker?.state;
    return state === 'open' || state === 'isolated' ? 'closed' : 'ready';
  };
  const endpointCall = Object.assign(
    (req: HttpRequest, ctx: Parameters<typeof service>[1]) => service(req, ctx),
    { readiness, close: () => base.close() },
  );
  return inheritCancelsPromptly(service, endpointCall);
}
