import { metadataText } from '@meshkit/core';
import type { RouteAdapter } from '@meshkit/routing';
import type { GrpcRequest, GrpcResponse } from './types.ts';

/**
 * How the routing layer (`routing()` from `@meshkit/routing`) reads gRPC calls: as Istio sees them, a
 * `POST` to `/<package.Service>/<Method>` with the call's text metadata as headers, so
 * `uri: { exact: /user.UserService/GetUser }` and header matches work as they do under a sidecar.
 * Header operations change the call's metadata; `rewrite.uri` and `redirect` have no meaning for a
 * gRPC method and are refused by the routing layer (no `withRequest` path change, no `redirect`).
 *
 * @example
 * ```ts
 * import { routing, watchRoutes } from '@meshkit/routing';
 *
 * const route = routing({ routes: await watchRoutes('routes/'), host: 'user-service', adapter: grpcRouteAdapter });
 * const users = grpcClient(UserService, { service: 'user-service', endpoints: ['127.0.0.1:50051'], route });
 * ```
 */
export const grpcRouteAdapter: RouteAdapter<GrpcRequest, GrpcResponse> = {
  view: (req, ctx) => {
    const headers: Record<string, string> = {};
    for (const source of [ctx.metadata, req.metadata]) {
      if (source === undefined) continue;
      for (const key of Object.keys(source)) {
        const text = metadataText(source, key);
        if (text !== undefined) headers[key.toLowerCase()] = text;
      }
    }
    return { method: 'POST', path: `/${req.method.parent.typeName}/${req.method.name}`, headers };
  },
  withRequest: (req, change) =>
    change.headers === undefined ? req : { ...req, metadata: { ...req.metadata, ...change.headers } },
};
