import { type Metadata, type MetadataValue, metadataText } from '@meshkit/core';
import type { RouteAdapter } from '@meshkit/routing';
import type { GrpcRequest, GrpcResponse } from './types.ts';

/**
 * How the routing layer (`routing()` from `@meshkit/routing`) reads gRPC calls: as Istio sees them, a
 * `POST` to `/<package.Service>/<Method>` with the call's text metadata as headers, so
 * `uri: { exact: /user.UserService/GetUser }` and header matches work as they do under a sidecar.
 * Header operations change the call's text metadata (a repeated key keeps its first value); a
 * `rewrite.uri` has no meaning for a gRPC method and is ignored, and a `redirect` rule rejects.
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
  // The routing layer hands back the whole header set after its operations (removals included); binary
  // metadata, which it never sees, is kept.
  withRequest: (req, change) =>
    change.headers === undefined
      ? req
      : { ...req, metadata: { ...binaryOnly(req.metadata), ...change.headers } },
};

function binaryOnly(metadata: Metadata | undefined): Record<string, MetadataValue> {
  const out: Record<string, MetadataValue> = {};
  if (metadata === undefined) return out;
  for (const [key, value] of Object.entries(metadata)) if (value instanceof Uint8Array) out[key] = value;
  return out;
}
