import { type CallContext, InvalidArgumentError, type Metadata } from '@meshkit/core';
import type { RouteAdapter, RouteRequest } from '@meshkit/routing';
import { sendableKey } from '../wire/metadata.ts';
import type { GrpcRequest, GrpcResponse } from './types.ts';

/**
 * How the routing layer (`routing()` from `@meshkit/routing`) sees a gRPC call, as Istio does: `POST`
 * to `/package.Service/Method` with `content-type: application/grpc`, and the call's metadata (the
 * context's, then the call's own) as headers. So `uri: { prefix: /user.UserService/ }`, `uri: { exact:
 * /user.UserService/GetUser }` and `headers: { x-canary: { exact: "true" } }` match gRPC calls exactly as
 * under Istio. Binary (`-bin`) metadata is not shown (Envoy matches it base64-encoded; meshkit does not
 * match on it); a repeated key is shown joined with `,`.
 *
 * Header operations (`headers.request.set/add/remove`) change the call's metadata (`remove` cannot take
 * away metadata the context propagates, such as `traceparent`). A `rewrite.uri` to
 * another method is refused (`ERR_INVALID_ARGUMENT`): the method's types are fixed by its descriptor.
 * `rewrite.authority`, response header operations and `redirect` have no gRPC meaning here: the first is
 * ignored, the second skipped, a redirect rule fails the call.
 *
 * @example
 * ```ts
 * import type { Registry } from '@meshkit/discovery';
 * import { routing, watchRoutes } from '@meshkit/routing';
 * declare const registry: Registry;
 *
 * const route = routing({ routes: await watchRoutes('routes/'), host: 'user-service', adapter: grpcRouteAdapter });
 * const users = grpcClient(UserService, { service: 'user-service', registry, route });
 * ```
 */
export const grpcRouteAdapter: RouteAdapter<GrpcRequest, GrpcResponse> = {
  view: (req: GrpcRequest, ctx: CallContext): RouteRequest => ({
    method: 'POST',
    path: pathOf(req),
    headers: headersOf(ctx.metadata, req.metadata),
  }),
  withRequest: (req, change) => {
    if (change.path !== undefined && change.path !== pathOf(req)) {
      throw new InvalidArgumentError(
        'rewrite.uri',
        `cannot send gRPC method ${pathOf(req)} to another method (${change.path})`,
        change.path,
      );
    }
    if (change.headers === undefined) return req;
    // The new header set, minus what is the protocol's, plus the binary metadata routing never saw.
    const metadata: Record<string, string | Uint8Array | readonly (string | Uint8Array)[]> = {};
    for (const [key, value] of Object.entries(change.headers)) {
      if (sendableKey(key) && !key.endsWith('-bin')) metadata[key] = value;
    }
    for (const [key, value] of Object.entries(req.metadata ?? {})) {
      if (key.endsWith('-bin')) metadata[key] = value;
    }
    return { ...req, metadata };
  },
};

function pathOf(req: GrpcRequest): string {
  return `/${req.method.parent.typeName}/${req.method.name}`;
}

function headersOf(
  context: Readonly<Record<string, unknown>>,
  call: Metadata | undefined,
): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/grpc' };
  add(headers, context);
  if (call !== undefined) add(headers, call);
  return headers;
}

function add(headers: Record<string, string>, metadata: Readonly<Record<string, unknown>>): void {
  for (const key in metadata) {
    const lower = key.toLowerCase();
    if (lower.endsWith('-bin')) continue;
    const value = metadata[key];
    if (typeof value === 'string') headers[lower] = value;
    else if (Array.isArray(value)) {
      const texts = value.filter((v): v is string => typeof v === 'string');
      if (texts.length > 0) headers[lower] = texts.join(',');
    }
  }
}
