import { httpServer, type KitHandler, type MeshServer } from '@meshkit/http';
import { metricsResponse } from '@meshkit/observability';
import type { Registry as PromRegistry } from 'prom-client';

/** The path Prometheus scrapes. */
export const metricsPath = '/metrics';

/** The instance label naming the port of an instance's `/metrics` when it is not the instance's own port. */
export const metricsPortLabel = 'metrics-port';

/** `handler` with `GET /metrics` (and `HEAD`) answered from `registry` before it. */
export function withMetrics(handler: KitHandler, registry: PromRegistry): KitHandler {
  return (req, ctx) =>
    req.path === metricsPath && (req.method === 'GET' || req.method === 'HEAD')
      ? metricsResponse(registry)
      : handler(req, ctx);
}

/** A small unregistered HTTP server answering only `GET /metrics`, for a service that has only gRPC. */
export function metricsServer(registry: PromRegistry): MeshServer {
  return httpServer({
    service: 'metrics',
    shutdown: { signals: false, exit: false, graceMs: 0 },
    handler: withMetrics(
      (req) => ({
        status: 404,
        body: { title: 'not found', detail: `only ${metricsPath} here, not ${req.path}` },
      }),
      registry,
    ),
  });
}
