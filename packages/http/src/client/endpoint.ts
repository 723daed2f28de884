import type { EndpointService } from '@meshkit/balance';
import { type AnyLayer, type Endpoint, inheritCancelsPromptly, readinessOf, stack } from '@meshkit/core';
import type { CircuitBreaker } from '@meshkit/policies';
import { httpTransport, type ResolvedTransportOptions } from '../transport.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';

/**
 * Builds the service for one endpoint: its own circuit breaker (so one bad instance opens only its own
 * circuit), the per-attempt timeout, then the undici transport. Readiness composes through the stack:
 * an open circuit reports the endpoint `closed`, so the balancer skips it before sending anything.
 */
export function endpointService(
  endpoint: Endpoint,
  transport: ResolvedTransportOptions,
  breaker: CircuitBreaker<HttpRequest, HttpResponse> | undefined,
  attemptTimeout: AnyLayer<HttpRequest, HttpResponse> | undefined,
): EndpointService<HttpRequest, HttpResponse> {
  const base = httpTransport(endpoint.address, transport);
  const layers: AnyLayer<HttpRequest, HttpResponse>[] = [];
  if (breaker !== undefined) layers.push(breaker);
  if (attemptTimeout !== undefined) layers.push(attemptTimeout);
  const service = stack(...layers).wrap(base);
  const endpointCall = Object.assign(
    (req: HttpRequest, ctx: Parameters<typeof service>[1]) => service(req, ctx),
    { readiness: () => readinessOf(service), close: () => base.close() },
  );
  return inheritCancelsPromptly(service, endpointCall);
}
