import type { Registry } from 'prom-client';

/** A response in the shape the HTTP kit's handlers return (`httpServer`'s `KitResponse`). */
export interface MetricsResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * The Prometheus text exposition of `registry`, as a response the HTTP kit's handler can return for
 * `GET /metrics` (with Fastify: `reply.headers(r.headers).send(r.body)`).
 *
 * @example
 * ```ts
 * import { httpServer } from '@meshkit/http';
 * const observed = metrics();
 * const server = httpServer({
 *   service: 'users',
 *   handler: (req) =>
 *     req.path === '/metrics' ? metricsResponse(observed.registry) : { status: 404, body: 'not found' },
 * });
 * ```
 */
export async function metricsResponse(registry: Registry): Promise<MetricsResponse> {
  return {
    status: 200,
    headers: { 'content-type': registry.contentType },
    body: await registry.metrics(),
  };
}
