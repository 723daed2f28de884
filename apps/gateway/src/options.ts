import { fileURLToPath } from 'node:url';
import type { ClientPolicyOptions } from '@meshkit/client';
import { type Clock, InvalidArgumentError, systemClock } from '@meshkit/core';
import type { Registry } from '@meshkit/discovery';
import type { HttpResponse, HttpTransportOptions, ShutdownOptions } from '@meshkit/http';
import type { RouteReloadEvent, RouteSource } from '@meshkit/routing';
import type { Registry as PromRegistry } from 'prom-client';

/** One public path prefix and the service behind it. */
export interface GatewayMount {
  /** The public prefix, e.g. `/api/users`: matches itself and everything under `/api/users/`. */
  readonly prefix: string;
  /** The service the requests go to (its VirtualService host and registry name). */
  readonly service: string;
  /** What replaces `prefix` in the path sent upstream, e.g. `/users`. */
  readonly rewrite: string;
}

/** Size limits of what the gateway relays. */
export interface GatewayLimits {
  /** Largest request body relayed upstream, bytes. Defaults to 1,048,576 (1 MiB); more is a 413. */
  readonly maxRequestBodyBytes?: number;
  /**
   * Largest response body relayed to the client, bytes. Defaults to 8,388,608 (8 MiB). A response that
   * declares more is a 502; one that streams past it is cut off (the client sees a truncated body).
   */
  readonly maxResponseBodyBytes?: number;
  /** Largest request header block, bytes. Defaults to 16,384; more is a 431. */
  readonly maxHeaderBytes?: number;
  /** Most request header lines, `host` included. Defaults to 100; more is a 431. */
  readonly maxHeadersCount?: number;
  /** How long a client may take to send the request headers, ms. Defaults to 10,000; slower is a 408. */
  readonly headersTimeoutMs?: number;
  /**
   * How long a client may take to send its whole request, body included, ms. Defaults to 60,000; slower
   * is a 408 (a slow upload holds an upstream call open, so it is bounded like the kit's servers do).
   */
  readonly requestTimeoutMs?: number;
}

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  /** Where the services behind the gateway are found (their instances carry `version` labels). */
  readonly registry: Registry;
  /**
   * The routing file or directory (Istio `VirtualService` / `DestinationRule`), followed for edits, or a
   * route source someone else follows and closes (`mesh.routes`). Defaults to the repository's
   * `deploy/istio`.
   */
  readonly routes?: string | RouteSource;
  /** Called after each reload of the routes, applied or rejected (when the gateway follows a path). */
  readonly onRoutesReload?: (event: RouteReloadEvent) => void;
  /** The public prefixes. Defaults to `/api/users` → `user-service` at `/users`. */
  readonly mounts?: readonly GatewayMount[];
  /** Port to listen on; 0 picks one. Defaults to 0. */
  readonly port?: number;
  /** Interface to listen on. Defaults to `127.0.0.1`. */
  readonly host?: string;
  /**
   * The edge deadline for each request, ms: the whole call, retries included, sent upstream as
   * `x-meshkit-timeout-ms`. A route's `timeout` and a client's own `x-meshkit-timeout-ms` can only
   * shorten it. Defaults to 15,000.
   */
  readonly deadlineMs?: number;
  /**
   * Answer with `x-meshkit-subset`, `x-meshkit-endpoint` (the subset and instance that served the
   * request) and `x-meshkit-attempts` (how many upstream tries it took), for demos and debugging. They tell the outside about the deployment: turn them off where
   * that matters. Defaults to `true`.
   */
  readonly exposeRouting?: boolean;
  readonly limits?: GatewayLimits;
  /**
   * The client pipeline's own policies (breaker, bulkhead, attempt timeout), below the routes' timeout
   * and retries. Defaults: the pipeline's, with no per-attempt timeout of its own (the routes'
   * `perTryTimeout` bounds each try).
   */
  readonly policies?: ClientPolicyOptions<HttpResponse>;
  /** Connection settings towards the upstream instances. */
  readonly transport?: Omit<HttpTransportOptions, 'maxErrorBodyBytes' | 'retryableStatuses'>;
  /** Registers the gateway itself under this name in `registry`. Defaults to none. */
  readonly registerAs?: string;
  /** The address registered for callers (required in the registry when listening on 0.0.0.0). */
  readonly advertisedAddress?: string;
  /**
   * Metrics to answer `GET /metrics` with (`mesh.telemetry.metrics?.registry`), before any mount. Defaults
   * to none: `/metrics` is routed like any other path.
   */
  readonly metrics?: PromRegistry;
  /** Graceful shutdown: drain time, signals, exit. Defaults to the kit's (10 s drain, SIGTERM/SIGINT). */
  readonly shutdown?: ShutdownOptions;
  /** A number in [0, 1) per weighted pick. Defaults to `Math.random`. */
  readonly random?: () => number;
  /** The clock of deadlines, retries and breakers. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** {@link GatewayOptions} with defaults applied and every value checked. */
export interface ResolvedGatewayOptions {
  readonly registry: Registry;
  readonly routes: string | RouteSource;
  readonly mounts: readonly GatewayMount[];
  readonly port: number;
  readonly host: string;
  readonly deadlineMs: number;
  readonly exposeRouting: boolean;
  readonly maxRequestBodyBytes: number;
  readonly maxResponseBodyBytes: number;
  readonly maxHeaderBytes: number;
  readonly maxHeadersCount: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
}

/** The repository's `deploy/istio`, the routes the gateway reads by default. */
export const defaultRoutesPath = fileURLToPath(new URL('../../../deploy/istio', import.meta.url));

/** The reference system's one mount: the user service's REST API. */
export const defaultMounts: readonly GatewayMount[] = [
  { prefix: '/api/users', service: 'user-service', rewrite: '/users' },
];

function integer(field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `must be an integer from ${min} to ${max}`, value);
  }
  return value;
}

function checkMount(mount: GatewayMount, i: number): GatewayMount {
  const field = `startGateway.mounts[${i}]`;
  for (const key of ['prefix', 'rewrite'] as const) {
    const path = mount?.[key];
    if (typeof path !== 'string' || !path.startsWith('/') || (path.length > 1 && path.endsWith('/'))) {
      throw new InvalidArgumentError(`${field}.${key}`, "must start with '/' and not end with one", path);
    }
  }
  if (typeof mount.service !== 'string' || mount.service === '') {
    throw new InvalidArgumentError(`${field}.service`, 'must be a service name', mount.service);
  }
  return mount;
}

/** Applies the defaults and checks every option, naming the offending one. */
export function resolveGatewayOptions(options: GatewayOptions): ResolvedGatewayOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('startGateway', 'options must be an object', options);
  }
  if (typeof options.registry?.watch !== 'function') {
    throw new InvalidArgumentError('startGateway.registry', 'must be a Registry', options.registry);
  }
  const routes = options.routes ?? defaultRoutesPath;
  const isSource = typeof routes === 'object' && routes !== null && 'table' in routes;
  if (!isSource && (typeof routes !== 'string' || routes === '')) {
    throw new InvalidArgumentError(
      'startGateway.routes',
      'must be a file or directory path, or a route source',
      routes,
    );
  }
  const mounts = options.mounts ?? defaultMounts;
  if (!Array.isArray(mounts) || mounts.length === 0) {
    throw new InvalidArgumentError('startGateway.mounts', 'must be a non-empty array', mounts);
  }
  const limits = options.limits ?? {};
  const requestTimeoutMs = integer(
    'startGateway.limits.requestTimeoutMs',
    limits.requestTimeoutMs ?? 60_000,
    1,
  );
  const headersTimeoutMs = integer(
    'startGateway.limits.headersTimeoutMs',
    limits.headersTimeoutMs ?? Math.min(10_000, requestTimeoutMs),
    1,
    requestTimeoutMs,
  );
  const exposeRouting = options.exposeRouting ?? true;
  if (typeof exposeRouting !== 'boolean') {
    throw new InvalidArgumentError('startGateway.exposeRouting', 'must be a boolean', exposeRouting);
  }
  return {
    registry: options.registry,
    routes,
    mounts: mounts.map(checkMount),
    port: integer('startGateway.port', options.port ?? 0, 0, 65_535),
    host: options.host ?? '127.0.0.1',
    deadlineMs: integer('startGateway.deadlineMs', options.deadlineMs ?? 15_000, 1),
    exposeRouting,
    maxRequestBodyBytes: integer(
      'startGateway.limits.maxRequestBodyBytes',
      limits.maxRequestBodyBytes ?? 1_048_576,
      0,
    ),
    maxResponseBodyBytes: integer(
      'startGateway.limits.maxResponseBodyBytes',
      limits.maxResponseBodyBytes ?? 8_388_608,
      0,
    ),
    maxHeaderBytes: integer('startGateway.limits.maxHeaderBytes', limits.maxHeaderBytes ?? 16_384, 1_024),
    maxHeadersCount: integer('startGateway.limits.maxHeadersCount', limits.maxHeadersCount ?? 100, 1),
    headersTimeoutMs,
    requestTimeoutMs,
    clock: options.clock ?? systemClock,
  };
}
