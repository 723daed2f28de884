/**
 * An endpoint is one instance of a service that calls can be sent to. Discovery produces them, the
 * balancer picks among them, and per-endpoint layers (breaker, outlier detection) report on them.
 */

/**
 * Whether an endpoint can take a call right now (tower's `poll_ready`, Finagle's `Status`):
 * `ready` takes calls, `busy` is saturated (skip it if another is ready), `closed` must not be used
 * (unhealthy, ejected, circuit open, shutting down).
 */
export type Readiness = 'ready' | 'busy' | 'closed';

/** One reachable instance of a service. */
export interface Endpoint {
  /** Stable identity, unique within its service (the registry's instance id). */
  readonly id: string;
  /** Where to connect: `host:port` for TCP transports, or a URL. */
  readonly address: string;
  /** Labels such as `version=v2`, used for routing subsets. */
  readonly labels: Readonly<Record<string, string>>;
  /** Relative weight for weighted balancing; defaults to 1. */
  readonly weight: number;
  /** Whether the endpoint can take a call now; checked before any bytes are sent. */
  readiness(): Readiness;
  /** Current load estimate (lower is better), e.g. peak-EWMA latency times in-flight calls. */
  load(): number;
}

/** The plain data of an endpoint, as discovery sources report it. */
export interface EndpointInit {
  readonly id: string;
  readonly address: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly weight?: number;
}

/**
 * A fixed endpoint that is always ready with zero load; for static lists, tests and single-instance
 * services. Balancers wrap endpoints with live readiness and load.
 */
export function staticEndpoint(init: EndpointInit): Endpoint {
  return {
    id: init.id,
    address: init.address,
    labels: Object.freeze({ ...init.labels }),
    weight: init.weight ?? 1,
    readiness: () => 'ready',
    load: () => 0,
  };
}

/**
 * An active health probe: resolves when the endpoint at `address` is healthy, rejects (with the reason)
 * when not, and stops as soon as `signal` aborts. `@meshkit/discovery` has HTTP, TCP and gRPC probes;
 * `@meshkit/balance`'s health checks run any function of this shape.
 */
export type Probe<E extends { readonly address: string } = { readonly address: string }> = (
  endpoint: E,
  signal: AbortSignal,
) => Promise<void>;
