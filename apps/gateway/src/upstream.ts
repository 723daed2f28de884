/**
 * The client pipeline behind one mount: meshkit's `clientStack()` with the routing layer in its route
 * slot, endpoints from the registry, and undici transports that note which instance answered.
 */
import { type ClientPolicyOptions, type ClientStack, clientStack } from '@meshkit/client';
import { type Clock, contextKey, inheritCancelsPromptly } from '@meshkit/core';
import { endpointSets, type Registry } from '@meshkit/discovery';
import {
  type HttpRequest,
  type HttpResponse,
  type HttpTransportOptions,
  httpObservation,
  httpRouteAdapter,
  httpTransport,
} from '@meshkit/http';
import { type RouteSource, routeDecision, routing } from '@meshkit/routing';

/**
 * Where a call went, filled in by the transport of each try (so the last try's values remain): the
 * subset its route chose and the instance's registry id, and how many tries reached a transport. A
 * per-call record the gateway creates.
 */
export interface UpstreamRecord {
  subset: string | undefined;
  endpoint: string | undefined;
  /** Tries sent upstream so far (retries and hedges included; refusals before sending are not). */
  attempts: number;
}

/** The context slot holding the call's {@link UpstreamRecord}. */
export const upstreamRecord = contextKey<UpstreamRecord>('meshkit.gateway.upstream');

/** What {@link upstreamPipeline} is built from. */
export interface UpstreamOptions {
  readonly service: string;
  readonly registry: Registry;
  readonly routes: RouteSource;
  readonly policies: ClientPolicyOptions<HttpResponse> | undefined;
  readonly transport: Omit<HttpTransportOptions, 'maxErrorBodyBytes' | 'retryableStatuses'> | undefined;
  /** An error status's body is kept up to this many bytes, so the gateway can relay it. */
  readonly maxErrorBodyBytes: number;
  readonly random: (() => number) | undefined;
  readonly clock: Clock;
}

/** The pipeline to one service: route → deadline and retries (the route's) → balancer → per-endpoint layers → transport. */
export function upstreamPipeline(options: UpstreamOptions): ClientStack<HttpRequest, HttpResponse> {
  const { service, clock } = options;
  const transportOptions: HttpTransportOptions = {
    ...options.transport,
    maxErrorBodyBytes: options.maxErrorBodyBytes,
  };
  return clientStack<HttpRequest, HttpResponse>({
    service,
    endpoints: endpointSets(options.registry, service, { protocol: 'http' }),
    connect: (endpoint) => {
      const transport = httpTransport(endpoint.address, transportOptions);
      const noted = inheritCancelsPromptly(transport, (req: HttpRequest, ctx) => {
        const record = ctx.get(upstreamRecord);
        if (record !== undefined) {
          record.endpoint = endpoint.id;
          record.attempts += 1;
          record.subset = ctx.get(routeDecision)?.subset;
        }
        return transport(req, ctx);
      });
      return Object.assign(noted, { close: () => transport.close() });
    },
    route: routing({
      routes: options.routes,
      host: service,
      adapter: httpRouteAdapter,
      clock,
      ...(options.random === undefined ? {} : { random: options.random }),
    }),
    // The routes' perTryTimeout bounds each try; a second, fixed per-try bound would cut it short.
    policies: { attemptTimeoutMs: false, ...options.policies },
    transportCancelsPromptly: true,
    // Each call and attempt on the client channels, as the HTTP client reports them (metrics, spans).
    observation: httpObservation,
    clock,
    optionsName: 'startGateway',
  });
}
