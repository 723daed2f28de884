import { applyOps, type RouteAdapter } from '@meshkit/routing';
import type { HttpRequest, HttpResponse } from '../types.ts';

/**
 * How the routing layer (`routing()` from `@meshkit/routing`) reads and changes HTTP requests: the
 * method, the path with its query, the headers, and the `host` header as the authority. Rewrites change
 * the path and the `host` header; a redirect rule answers with the status and a `location` header.
 *
 * @example
 * ```ts
 * import { routing, watchRoutes } from '@meshkit/routing';
 *
 * const route = routing({ routes: await watchRoutes('routes/'), host: 'user-service', adapter: httpRouteAdapter });
 * const users = httpClient({ service: 'user-service', endpoints: ['127.0.0.1:8080'], route });
 * ```
 */
export const httpRouteAdapter: RouteAdapter<HttpRequest, HttpResponse> = {
  // A request with headers and no `host` header already has the view's shape: no object per call.
  view: (req) =>
    req.headers !== undefined && req.headers.host === undefined
      ? (req as HttpRequest & { headers: Readonly<Record<string, string>> })
      : { method: req.method, path: req.path, authority: req.headers?.host, headers: req.headers ?? {} },
  withRequest: (req, change) => {
    let headers = change.headers ?? req.headers;
    if (change.authority !== undefined) headers = { ...headers, host: change.authority };
    return { ...req, path: change.path ?? req.path, ...(headers === undefined ? {} : { headers }) };
  },
  withResponseHeaders: (res, ops) => ({ ...res, headers: applyOps(flatten(res.headers), ops) }),
  redirect: (status, location) => ({ status, headers: { location }, text: '' }),
};

function flatten(headers: HttpResponse['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers))
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}
