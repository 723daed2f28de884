import {
  type CallContext,
  type Clock,
  contextKey,
  createContext,
  ErrorCode,
  GrpcStatus,
  grpcStatusCode,
  InvalidArgumentError,
  type Layer,
  MeshError,
  type Service,
  sleep,
  systemClock,
} from '@meshkit/core';
import { routeChannel } from './events.ts';
import { type RouteRequest, SplitRequest } from './match.ts';
import type { HeaderOpsSpec, TrafficPolicySpec } from './model.ts';
import { type CompiledRule, type RouteDecision, RouteTable } from './table.ts';

/**
 * The slot where the routing layer leaves its {@link RouteDecision} for the layers below it (deadline,
 * retry, balancer): destination host, subset labels, port, timeout, retry policy, traffic policy.
 */
export const routeDecision = contextKey<RouteDecision>('meshkit.routing.decision');

/**
 * The consistent-hash key of a call whose destination's DestinationRule asks for `consistentHash` (by
 * header, cookie or query parameter), read from the request by the routing layer; the client hands it to
 * a hashing picker.
 */
export const routeHashKey = contextKey<string>('meshkit.routing.hashKey');

/** How the routing layer reads and changes one transport's requests and responses. */
export interface RouteAdapter<Req, Res> {
  /** The request as routing sees it (called once per call). */
  view(req: Req, ctx: CallContext): RouteRequest;
  /**
   * The request with a new path, authority or headers (header operations, `rewrite`, the mirror's
   * `-shadow` authority). Without it, a rule that changes the request fails with `ERR_INVALID_ARGUMENT`.
   */
  withRequest?(
    req: Req,
    change: { path?: string; authority?: string; headers?: Readonly<Record<string, string>> },
  ): Req;
  /** The response with header operations applied; without it, response header operations are skipped. */
  withResponseHeaders?(res: Res, ops: HeaderOpsSpec): Res;
  /** The response a `redirect` rule answers with; without it, a redirect rejects (`ERR_HTTP_STATUS`). */
  redirect?(status: number, location: string): Res;
}

/** Where the layer reads its table from on every call: a fixed table, or a watcher that swaps it. */
export interface RouteSource {
  readonly table: RouteTable;
}

/** Options of {@link routing}. */
export interface RoutingOptions<Req, Res> {
  /** The compiled table, or a source that swaps it on reload (`watchRoutes()`). */
  readonly routes: RouteTable | RouteSource;
  /** The host calls are addressed to when the request names none (the client's service name). */
  readonly host: string;
  readonly adapter: RouteAdapter<Req, Res>;
  /** This caller's own labels, for `sourceLabels` matches. Defaults to none. */
  readonly sourceLabels?: Readonly<Record<string, string>>;
  /** A number in [0, 1) per weighted pick, fault and mirror draw. Defaults to `Math.random`. */
  readonly random?: () => number;
  /** For fault delays. Defaults to the system clock. */
  readonly clock?: Clock;
  /** Layer name in `describe()`. Defaults to `'routing'`. */
  readonly name?: string;
}

/** The routing layer: `describe()` gives the active table. */
export interface RoutingLayer<Req, Res> extends Layer<Req, Res> {
  /** Chooses the rule and destination for a request without sending it (for tools and tests). */
  decide(req: Req, ctx: CallContext): RouteDecision | undefined;
  /**
   * The DestinationRule traffic policy of an endpoint of the layer's host with these labels, from the
   * table in use now (see `RouteTable.endpointPolicy`): what the client applies per endpoint (outlier
   * detection, connect timeout).
   */
  endpointPolicy(labels: Readonly<Record<string, string>>): TrafficPolicySpec | undefined;
}

/**
 * Applies a routing table to calls: picks the first matching rule of the VirtualService for the call's
 * host, draws a weighted destination, applies fault injection, redirect, rewrite and header operations,
 * sends a mirrored copy fire-and-forget, and hands the decision to the layers below in
 * `ctx.get(routeDecision)`. It never calls a transport itself: the balancer below reads the subset
 * labels, the deadline and retry layers read the route's timeout and retry policy.
 *
 * A call to a host no VirtualService names passes through with no decision. A call that no rule
 * matches fails with `ERR_NO_ENDPOINT` (`details.reason` `'no-route'`), as Istio answers 404.
 *
 * @example
 * ```ts
 * import { httpRouteAdapter } from '@meshkit/http';
 *
 * const routes = await watchRoutes('routes/');
 * const layer = routing({ routes, host: 'user-service', adapter: httpRouteAdapter });
 * ```
 */
export function routing<Req, Res>(options: RoutingOptions<Req, Res>): RoutingLayer<Req, Res> {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError('routing', 'options must be an object', options);
  const { adapter, host } = options;
  if (typeof host !== 'string' || host === '')
    throw new InvalidArgumentError('routing.host', 'must be a non-empty string', host);
  if (typeof adapter?.view !== 'function')
    throw new InvalidArgumentError('routing.adapter.view', 'must be a function', adapter?.view);
  const routes = options.routes as unknown;
  if (typeof routes !== 'object' || routes === null)
    throw new InvalidArgumentError('routing.routes', 'must be a RouteTable or a RouteSource', routes);
  const source: RouteSource = 'table' in routes ? (routes as RouteSource) : { table: routes as RouteTable };
  if (!(source.table instanceof RouteTable))
    throw new InvalidArgumentError('routing.routes', 'must be a RouteTable or a RouteSource', options.routes);
  const random = options.random ?? Math.random;
  const clock = options.clock ?? systemClock;
  const sourceLabels = Object.freeze({ ...options.sourceLabels });
  const name = options.name ?? 'routing';

  const scratch = new SplitRequest({ method: '', path: '', headers: {} }, host, sourceLabels);
  /**
   * The first matching rule, `undefined` when none matches, or `pass` when no VirtualService names the
   * host. The request's view is left in `scratch.request` (read it before anything asynchronous): no
   * result object per call.
   */
  const select = (req: Req, ctx: CallContext): CompiledRule | undefined | typeof pass => {
    const view = adapter.view(req, ctx);
    const authority = view.authority ?? host;
    scratch.reset(view, authority);
    const rules = source.table.rulesFor(authority);
    if (rules === undefined) return pass;
    return source.table.select(rules, scratch);
  };
  const pick = (rule: CompiledRule): RouteDecision => {
    const decisions = rule.decisions;
    if (decisions.length === 1) return decisions[0]!;
    const r = random() * rule.totalWeight;
    const cumulative = rule.cumulative;
    for (let i = 0; i < cumulative.length; i++) if (r < cumulative[i]!) return decisions[i]!;
    return decisions[decisions.length - 1]!;
  };

  /** The context below the layer: the decision, and the hash key when the destination wants one. */
  const decided = (
    ctx: CallContext,
    rule: CompiledRule,
    decision: RouteDecision,
    view: RouteRequest,
  ): CallContext => {
    const withDecision = ctx.set(routeDecision, decision);
    const readKey =
      rule.hashKeys.length === 1 ? rule.hashKeys[0] : rule.hashKeys[rule.decisions.indexOf(decision)];
    if (readKey === undefined) return withDecision;
    const key = readKey(view);
    return key === undefined ? withDecision : withDecision.set(routeHashKey, key);
  };

  return {
    name,
    describe: () => ({ host, ...source.table.describe() }),
    endpointPolicy: (labels) => source.table.endpointPolicy(host, labels),
    decide(req, ctx) {
      const rule = select(req, ctx);
      return rule === undefined || rule === pass ? undefined : pick(rule);
    },
    wrap(next: Service<Req, Res>): Service<Req, Res> {
      const route = async (
        req: Req,
        ctx: CallContext,
        rule: CompiledRule,
        view: RouteRequest,
      ): Promise<Res> => {
        const fault = rule.fault;
        let delayed = false;
        if (fault?.delay !== undefined && random() < fault.delay.fraction) {
          delayed = true;
          // A delay fault is part of the call: like a slow network, it keeps the process alive.
          await sleep(clock, fault.delay.fixedDelayMs, ctx.cancellable ? ctx.signal : undefined, {
            ref: true,
          });
        }
        if (fault?.abort !== undefined && random() < fault.abort.fraction) {
          if (routeChannel.hasSubscribers)
            routeChannel.publish({ host, decision: undefined, fault: 'abort' });
          throw faultError(rule, fault.abort);
        }
        if (rule.redirect !== undefined) {
          if (routeChannel.hasSubscribers)
            routeChannel.publish({ host, decision: undefined, redirected: true });
          const r = rule.redirect;
          const location = redirectLocation(r, view, host);
          if (adapter.redirect !== undefined) return adapter.redirect(r.redirectCode, location);
          throw new MeshError(ErrorCode.HTTP_STATUS, `route "${rule.name}" redirects to ${location}`, {
            details: {
              status: r.redirectCode,
              headers: { location },
              body: '',
              retryAfterMs: undefined,
              address: 'routing',
            },
          });
        }
        const decision = pick(rule);
        const routed = changeRequest(req, view, rule, decision, false);
        const mirrored = rule.mirror !== undefined && random() < rule.mirrorFraction;
        if (routeChannel.hasSubscribers) {
          routeChannel.publish({ host, decision, fault: delayed ? 'delay' : undefined, mirrored });
        }
        if (mirrored && rule.mirror !== undefined) {
          // Fire-and-forget: a root context with the caller's deadline and metadata but not its
          // cancellation (the caller finishing must not cut the copy short), its outcome dropped.
          const copy = changeRequest(req, view, rule, rule.mirror, true);
          const mirrorCtx = createContext({
            clock: ctx.clock,
            deadline: ctx.deadline,
            metadata: ctx.metadata,
          }).set(routeDecision, rule.mirror);
          next(copy, mirrorCtx).then(drop, drop);
        }
        const res = await next(routed, decided(ctx, rule, decision, view));
        const ops = mergeOps(
          rule.responseHeaders,
          decision === undefined
            ? undefined
            : rule.destinations[rule.decisions.indexOf(decision)]?.responseHeaders,
        );
        return ops !== undefined && adapter.withResponseHeaders !== undefined
          ? adapter.withResponseHeaders(res, ops)
          : res;
      };
      const changeRequest = (
        req: Req,
        view: RouteRequest,
        rule: CompiledRule,
        decision: RouteDecision,
        shadow: boolean,
      ): Req => {
        const destOps = rule.destinations[rule.decisions.indexOf(decision)]?.requestHeaders;
        const ops = mergeOps(rule.requestHeaders, destOps);
        const rewrite = rule.rewrite;
        if (ops === undefined && rewrite === undefined && !shadow) return req;
        if (adapter.withRequest === undefined) {
          throw new InvalidArgumentError(
            'routing.adapter.withRequest',
            `is needed by route "${rule.name}" (rewrite or header operations)`,
          );
        }
        const change: { path?: string; authority?: string; headers?: Readonly<Record<string, string>> } = {};
        if (rewrite?.uri !== undefined) change.path = rewriteUri(view.path, rewrite.uri, rule);
        const authority = rewrite?.authority ?? view.authority;
        if (rewrite?.authority !== undefined) change.authority = rewrite.authority;
        if (shadow) change.authority = `${authority ?? decision.host}-shadow`;
        if (ops !== undefined) change.headers = applyOps(view.headers, ops);
        return adapter.withRequest(req, change);
      };
      return (req, ctx) => {
        let rule: ReturnType<typeof select>;
        try {
          rule = select(req, ctx);
        } catch (error) {
          return Promise.reject(error);
        }
        if (rule === pass) return next(req, ctx);
        const view = scratch.request;
        if (rule === undefined) {
          if (routeChannel.hasSubscribers) routeChannel.publish({ host, decision: undefined });
          return Promise.reject(noRoute(host, view));
        }
        // The common rule (no fault, redirect, rewrite, header operation or mirror) skips the async path.
        if (rule.plain) {
          const decision = pick(rule);
          if (routeChannel.hasSubscribers) routeChannel.publish({ host, decision });
          return next(req, decided(ctx, rule, decision, view));
        }
        return route(req, ctx, rule, view);
      };
    },
  };
}

function drop(): void {}

/** What `select` returns for a host no VirtualService names. */
const pass: unique symbol = Symbol('pass');

function noRoute(host: string, view: RouteRequest): MeshError {
  return new MeshError(ErrorCode.NO_ENDPOINT, `no route of ${host} matches ${view.method} ${view.path}`, {
    details: { reason: 'no-route', host, status: 404 },
  });
}

/** The error an injected abort fails with: what the transport would raise for that status. */
function faultError(
  rule: CompiledRule,
  abort: NonNullable<NonNullable<CompiledRule['fault']>['abort']>,
): MeshError {
  if (abort.grpcStatus !== undefined) {
    const grpcStatus = grpcStatusCode(abort.grpcStatus) ?? Number(abort.grpcStatus);
    return new MeshError(
      ErrorCode.GRPC_STATUS,
      `fault injected by route "${rule.name}": gRPC ${abort.grpcStatus}`,
      {
        details: { grpcStatus, fault: true },
        retryable: grpcStatus === GrpcStatus.UNAVAILABLE || grpcStatus === GrpcStatus.RESOURCE_EXHAUSTED,
      },
    );
  }
  const status = abort.httpStatus!;
  return new MeshError(ErrorCode.HTTP_STATUS, `fault injected by route "${rule.name}": HTTP ${status}`, {
    details: {
      status,
      headers: {},
      body: 'fault filter abort',
      retryAfterMs: undefined,
      address: 'routing',
      fault: true,
    },
    retryable: status === 429 || status >= 500,
  });
}

/** Istio's prefix rewrite: a `prefix` match's matched part is replaced; otherwise the whole path. */
function rewriteUri(path: string, uri: string, rule: CompiledRule): string {
  const q = path.indexOf('?');
  const bare = q < 0 ? path : path.slice(0, q);
  const query = q < 0 ? '' : path.slice(q);
  for (const m of rule.spec.match) {
    if (m.uri?.kind === 'prefix') {
      const prefix = m.uri.value;
      const matches = m.ignoreUriCase
        ? bare.toLowerCase().startsWith(prefix.toLowerCase())
        : bare.startsWith(prefix);
      if (matches) return uri + bare.slice(prefix.length) + query;
    }
  }
  return uri + query;
}

function redirectLocation(
  r: NonNullable<CompiledRule['redirect']>,
  view: RouteRequest,
  host: string,
): string {
  const authority = r.authority ?? view.authority ?? host;
  const withPort = r.port === undefined ? authority : `${authority.replace(/:\d+$/, '')}:${r.port}`;
  const path = r.uri ?? view.path;
  return r.scheme === undefined && r.authority === undefined && r.port === undefined
    ? path
    : `${r.scheme ?? 'http'}://${withPort}${path}`;
}

function mergeOps(a: HeaderOpsSpec | undefined, b: HeaderOpsSpec | undefined): HeaderOpsSpec | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return { set: { ...a.set, ...b.set }, add: { ...a.add, ...b.add }, remove: [...a.remove, ...b.remove] };
}

/** Istio's order: set replaces, add appends (comma-joined), remove last. */
export function applyOps(
  headers: Readonly<Record<string, string | undefined>>,
  ops: HeaderOpsSpec,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = v;
  Object.assign(out, ops.set);
  for (const [k, v] of Object.entries(ops.add)) out[k] = out[k] === undefined ? v : `${out[k]},${v}`;
  for (const k of ops.remove) delete out[k];
  return out;
}
