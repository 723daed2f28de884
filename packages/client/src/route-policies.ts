import { hashKey, subsetLabels } from '@meshkit/balance';
import { type Clock, ErrorCode, type Layer, MeshError, type Service, stack } from '@meshkit/core';
import {
  type Bulkhead,
  bulkhead,
  deadline,
  exponentialBackoff,
  type RetryBudget,
  type RetryOptions,
  retry,
  timeout,
} from '@meshkit/policies';
import { type RouteDecision, routeDecision, routeHashKey } from '@meshkit/routing';

/** What the client uses where a route says nothing: its own deadline and retry policy. */
export interface RoutePolicyDefaults<Res, Req = unknown> {
  /** The client's overall deadline in ms, or `false` for none. */
  readonly deadlineMs: number | false;
  /** The client's retry options, or `false` for none. */
  readonly retry: Omit<RetryOptions<Res>, 'budget'> | false;
  /** The client's hedge slot (after the deadline, before retry), for every route; none when absent. */
  readonly hedge?: Layer<Req, Res>;
  /** The shared retry budget every route's retries draw on. */
  readonly budget: RetryBudget | undefined;
  readonly clock: Clock;
  /**
   * The service the endpoints below belong to. A decision for another host fails with
   * `ERR_NO_ENDPOINT` (`details.reason` `'other-host'`) rather than reaching this service's endpoints.
   */
  readonly service: string;
}

/**
 * Applies the routing layer's decision (`ctx.get(routeDecision)`) below it: the route's `timeout`
 * replaces the client's deadline, its `retries` replace the client's retry policy (still drawing on
 * the shared budget; Envoy's backoff, 25 ms base and 250 ms cap), its `perTryTimeout` bounds each try,
 * the client's hedge slot (when configured) sits between the deadline and the retries,
 * and the subset's labels go to the balancer (`subsetLabels`), with the consistent-hash key when the
 * DestinationRule asks for one (`hashKey`). A subset whose DestinationRule sets `connectionPool`
 * `http2MaxRequests` (or, without it, `tcp.maxConnections`) gets one bulkhead of that many calls in
 * flight per try, `http1MaxPendingRequests` of them waiting (0 when absent); past that a try fails with
 * `ERR_BULKHEAD_FULL`, as Envoy's overflow. A call without a decision gets the
 * client's defaults. The layers for a decision are built on its first call and kept while the table
 * that made it is in use.
 */
export function routePolicies<Req, Res>(defaults: RoutePolicyDefaults<Res, Req>): Layer<Req, Res> {
  const retryLayer = (options: Omit<RetryOptions<Res>, 'budget'>): Layer<Req, Res> =>
    retry<Req, Res>({ ...options, ...(defaults.budget === undefined ? {} : { budget: defaults.budget }) });
  // One bulkhead per destination subset, shared by every route that sends there (Envoy's circuit
  // breaker thresholds are per cluster): made on first use, kept while the client lives.
  const pools = new Map<string, Bulkhead<Req, Res>>();
  const poolLimit = (d: RouteDecision | undefined): Bulkhead<Req, Res> | undefined => {
    const cp = d?.trafficPolicy?.connectionPool;
    const maxConcurrent = cp?.http2MaxRequests ?? cp?.maxConnections;
    if (d === undefined || cp === undefined || maxConcurrent === undefined) return undefined;
    const maxQueue = cp.http1MaxPendingRequests ?? 0;
    const key = `${d.host}|${d.subset ?? ''}|${maxConcurrent}|${maxQueue}`;
    let pool = pools.get(key);
    if (pool === undefined) {
      pool = bulkhead<Req, Res>({
        maxConcurrent,
        maxQueue,
        name: `bulkhead(${d.host}${d.subset === undefined ? '' : `/${d.subset}`})`,
      });
      pools.set(key, pool);
    }
    return pool;
  };
  const layersFor = (d: RouteDecision | undefined): Layer<Req, Res>[] => {
    const layers: Layer<Req, Res>[] = [];
    const deadlineMs = d?.timeoutMs ?? defaults.deadlineMs;
    if (deadlineMs !== false) layers.push(deadline({ timeoutMs: deadlineMs }));
    if (defaults.hedge !== undefined) layers.push(defaults.hedge);
    const pool = poolLimit(d);
    const policy = d?.retry;
    if (policy !== undefined) {
      layers.push(
        retryLayer({
          maxAttempts: policy.maxAttempts,
          retryOn: policy.retryOn,
          backoff: exponentialBackoff({ baseDelayMs: 25, maxDelayMs: 250 }),
          name: `retry(${d!.rule})`,
        }),
      );
      if (pool !== undefined) layers.push(pool);
      if (policy.perTryTimeoutMs !== undefined) layers.push(timeout({ timeoutMs: policy.perTryTimeoutMs }));
    } else {
      if (defaults.retry !== false) layers.push(retryLayer(defaults.retry));
      if (pool !== undefined) layers.push(pool);
    }
    return layers;
  };
  return {
    name: 'route-policies',
    wrap(next: Service<Req, Res>): Service<Req, Res> {
      const plain = stack(...layersFor(undefined)).wrap(next);
      const byDecision = new WeakMap<RouteDecision, Service<Req, Res>>();
      return (req, ctx) => {
        const d = ctx.get(routeDecision);
        if (d === undefined) return plain(req, ctx);
        let service = byDecision.get(d);
        if (service === undefined) {
          if (!sameService(d.host, defaults.service)) return Promise.reject(otherHost(d, defaults.service));
          service = stack(...layersFor(d)).wrap(next);
          byDecision.set(d, service);
        }
        let below = d.subsetLabels === undefined ? ctx : ctx.set(subsetLabels, d.subsetLabels);
        const key = ctx.get(routeHashKey);
        if (key !== undefined) below = below.set(hashKey, key);
        return service(req, below);
      };
    },
  };
}

/** `user-service.prod.svc.cluster.local` is `user-service`, as Istio resolves short names. */
function sameService(host: string, service: string): boolean {
  return host === service || (host.startsWith(`${service}.`) && host.includes('.svc'));
}

function otherHost(d: RouteDecision, service: string): MeshError {
  return new MeshError(
    ErrorCode.NO_ENDPOINT,
    `route "${d.rule}" of ${d.virtualService} sends to host "${d.host}", but this client serves "${service}"`,
    { rejected: true, details: { reason: 'other-host', host: d.host, service } },
  );
}
