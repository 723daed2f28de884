/**
 * `@meshkit/routing`: Istio `VirtualService` and `DestinationRule` files, validated and compiled into a
 * transport-neutral routing `Layer` that steers HTTP and gRPC calls in-process (see docs/routing.md).
 */
export { parseDurationMs } from './duration.ts';
export { type RouteEvent, routeChannel } from './events.ts';
export { formatIssue, RouteConfigError, type RouteIssue } from './issues.ts';
export {
  applyOps,
  type RouteAdapter,
  type RouteSource,
  type RoutingLayer,
  type RoutingOptions,
  routeDecision,
  routeHashKey,
  routing,
} from './layer.ts';
export { loadRoutes, loadRoutesOrThrow, type ParsedRoutes, parseRoutes } from './load.ts';
export type { RouteRequest } from './match.ts';
export type * from './model.ts';
export { type RetryCondition, retryConditions, retryPredicate } from './retry-on.ts';
export { compileRoutes, type RouteDecision, type RouteRetryPolicy, RouteTable } from './table.ts';
export {
  type RouteReloadEvent,
  type RouteWatcher,
  routeReloadChannel,
  type WatchRoutesOptions,
  watchRoutes,
} from './watch.ts';
