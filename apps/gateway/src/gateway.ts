/**
 * The public edge of the reference system: an HTTP reverse proxy on meshkit's client pipeline, routed
 * by the Istio VirtualService and DestinationRule it reads (and follows) from `deploy/istio`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClientStack } from '@meshkit/client';
import { createContext, stack } from '@meshkit/core';
import {
  deadlineLayer,
  drainLayer,
  errorResponse,
  type HttpCall,
  HttpProblem,
  type HttpReply,
  type HttpRequest,
  type HttpResponse,
  healthLayer,
  Lifecycle,
} from '@meshkit/http';
import { metricsResponse } from '@meshkit/observability';
import { type RouteSource, type RouteWatcher, watchRoutes } from '@meshkit/routing';
import { observeEdgeRequest } from './observe.ts';
import { type GatewayMount, type GatewayOptions, resolveGatewayOptions } from './options.ts';
import { edgeExchange, type MountedService, proxyService } from './proxy.ts';
import { discardUpload, problemKit, writeKit, writeReply } from './respond.ts';
import { edgeIdentity } from './trace.ts';
import { upstreamPipeline } from './upstream.ts';

/** A running gateway. */
export interface Gateway {
  /** Where it listens. */
  readonly address: { readonly host: string; readonly port: number };
  /** `http://host:port`. */
  readonly url: string;
  /** Live state: the route table and each mount's pipeline (layers, endpoints, breakers). */
  describe(): Record<string, unknown>;
  /** Re-reads the routes now (a rejected edit keeps the last good table). */
  reloadRoutes(): Promise<void>;
  /**
   * The ordered shutdown: deregister (when registered), refuse new requests with 503, finish the ones
   * in flight (up to the drain time), then stop following the routes and close the upstream pools.
   * Idempotent.
   */
  close(): Promise<void>;
}

/** The caller's remaining time from `x-meshkit-timeout-ms`: absent, a whole number of ms, or `null`. */
function callerTimeoutMs(value: string | string[] | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  return typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : null;
}

/**
 * Starts the gateway: reads the routes (a clear `RouteConfigError` naming file, document and field when
 * they are invalid), builds one client pipeline per mount, listens, and follows the routes for edits.
 *
 * At the edge each request gets a deadline (`deadlineMs`, shortened by a route's `timeout` or the
 * client's `x-meshkit-timeout-ms`, sent upstream as `x-meshkit-timeout-ms`), an `x-request-id` (the
 * client's or a new one, echoed in the answer) and a `traceparent` (the client's when valid, else a new
 * one). Hop-by-hop headers are dropped both ways and `Forwarded` / `X-Forwarded-*` added; bodies stream
 * both ways under size limits; a client that disconnects cancels the upstream call.
 *
 * @example
 * ```ts
 * import { embeddedRegistry } from '@meshkit/discovery';
 * const registry = embeddedRegistry({ path: '.meshkit/registry.db' });
 * const gateway = await startGateway({ registry, port: 8080, host: '0.0.0.0' });
 * // curl -H 'x-canary: true' localhost:8080/api/users/42   → user-service v2, at /users/42
 * await gateway.close();
 * ```
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const resolved = resolveGatewayOptions(options);
  const { clock } = resolved;
  // Invalid routes at start reject with a RouteConfigError naming each file, document and field. A route
  // source given in is followed and closed by its owner.
  const owned: RouteWatcher | undefined =
    typeof resolved.routes === 'string'
      ? await watchRoutes(resolved.routes, {
          ...(options.onRoutesReload === undefined ? {} : { onReload: options.onRoutesReload }),
        })
      : undefined;
  const routes: RouteSource = owned ?? (resolved.routes as RouteSource);
  const closeRoutes = (): void => owned?.close();

  let pipelines: { mount: GatewayMount; pipeline: ClientStack<HttpRequest, HttpResponse> }[];
  try {
    pipelines = resolved.mounts.map((mount) => ({
      mount,
      pipeline: upstreamPipeline({
        service: mount.service,
        registry: resolved.registry,
        routes,
        policies: options.policies,
        transport: options.transport,
        maxErrorBodyBytes: resolved.maxResponseBodyBytes,
        random: options.random,
        clock,
      }),
    }));
  } catch (error) {
    // A policy or transport option the pipeline refused: stop following the routes before reporting it.
    closeRoutes();
    throw error;
  }
  const mounts: MountedService[] = pipelines.map(({ mount, pipeline }) => ({
    mount,
    service: pipeline.service,
  }));

  const service = options.registerAs ?? 'gateway';
  const lifecycle = new Lifecycle(
    service,
    options.registerAs === undefined ? undefined : resolved.registry,
    options.advertisedAddress === undefined ? {} : { address: options.advertisedAddress },
    {
      ...options.shutdown,
      onClose: async () => {
        closeRoutes();
        await Promise.all(pipelines.map(({ pipeline }) => pipeline.close()));
        await options.shutdown?.onClose?.();
      },
    },
    clock,
  );
  const edge = stack<HttpCall, HttpReply>(
    healthLayer({
      // Ready while the registry answers: a gateway that cannot discover anything should get no traffic.
      checks: {
        discovery: () => Promise.all(resolved.mounts.map((m) => resolved.registry.lookup(m.service))),
      },
      checkTimeoutMs: 2_000,
      clock,
      draining: () => lifecycle.draining,
    }),
    drainLayer(lifecycle),
    deadlineLayer({ field: 'header:x-meshkit-timeout-ms' }),
  ).wrap(
    proxyService({
      mounts,
      maxRequestBodyBytes: resolved.maxRequestBodyBytes,
      maxResponseBodyBytes: resolved.maxResponseBodyBytes,
      exposeRouting: resolved.exposeRouting,
    }),
  );

  const serve = async (raw: IncomingMessage, res: ServerResponse): Promise<void> => {
    const target = raw.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    if (options.metrics !== undefined && path === '/metrics' && raw.method === 'GET') {
      const scraped = await metricsResponse(options.metrics);
      res.writeHead(scraped.status, scraped.headers).end(scraped.body);
      return;
    }
    const identity = observeEdgeRequest(edgeIdentity(raw.headers), raw, res, clock, service);
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new Error('the client closed the connection'));
    });
    const metadata: Record<string, string> = {
      'x-request-id': identity.requestId,
      traceparent: identity.traceparent,
      ...(identity.tracestate === undefined ? {} : { tracestate: identity.tracestate }),
    };
    const ctx = createContext({ clock, signal: abort.signal, metadata, timeoutMs: resolved.deadlineMs });
    const call: HttpCall = {
      method: raw.method ?? 'GET',
      target,
      path,
      metadata: raw.headers,
      timeoutMs: callerTimeoutMs(raw.headers['x-meshkit-timeout-ms']),
      body: () => Promise.reject(new Error('the gateway streams bodies; it never reads one whole')),
      raw,
    };
    const extra = { 'x-request-id': identity.requestId };
    try {
      const reply = await edge(call, ctx.set(edgeExchange, { raw, res, identity }));
      if (reply.streamed !== true) writeReply(res, reply, extra);
    } catch (error) {
      const kit =
        error instanceof HttpProblem
          ? problemKit(error.problem, identity.requestId, { ...error.headers })
          : errorResponse(error);
      const body = kit.body as Record<string, unknown> | undefined;
      writeKit(
        res,
        body === undefined ? kit : { ...kit, body: { ...body, requestId: identity.requestId } },
        extra,
      );
    }
    if (!raw.complete) discardUpload(raw);
  };

  const server = createServer({ maxHeaderSize: resolved.maxHeaderBytes }, (raw, res) => {
    void serve(raw, res);
  });
  server.requestTimeout = resolved.requestTimeoutMs;
  server.headersTimeout = resolved.headersTimeoutMs;
  server.maxHeadersCount = resolved.maxHeadersCount;
  // Node looks for overdue requests only every 30 s by default; checking every half header timeout (at
  // most 500 ms) cuts a slow client off within about half a second of its limit, as the kit's servers
  // do. A public property read at listen, missing from @types/node.
  (server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(
    500,
    Math.max(10, Math.floor(resolved.headersTimeoutMs / 2)),
  );
  lifecycle.attach(
    () => {
      server.close();
      server.closeIdleConnections();
    },
    () => server.closeAllConnections(),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(resolved.port, resolved.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  try {
    await lifecycle.started(resolved.host, port);
  } catch (error) {
    server.close();
    closeRoutes();
    await Promise.all(pipelines.map(({ pipeline }) => pipeline.close()));
    throw error;
  }

  const urlHost = options.advertisedAddress ?? resolved.host;
  return {
    address: { host: resolved.host, port },
    url: `http://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${port}`,
    describe: () => ({
      routes: typeof resolved.routes === 'string' ? resolved.routes : 'route source',
      mounts: pipelines.map(({ mount, pipeline }) => ({ ...mount, pipeline: pipeline.describe() })),
      draining: lifecycle.draining,
      inFlight: lifecycle.inFlight,
    }),
    reloadRoutes: async () => {
      const reloadable = routes as Partial<Pick<RouteWatcher, 'reload'>>;
      await reloadable.reload?.();
    },
    close: () => lifecycle.shutdown(),
  };
}
