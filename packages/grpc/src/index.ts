/**
 * @meshkit/grpc: gRPC over `node:http2` with the same `Service`/`Layer` policies as HTTP.
 *
 * - {@link grpcServer}: serve generated service implementations (deadlines, status codes, metadata,
 *   trailers, server streaming with flow control, `grpc.health.v1`, TLS/mTLS, graceful shutdown).
 * - {@link grpcClient}: a typed client of a generated service on the shared policy stack (discovery,
 *   P2C balancing, deadline as `grpc-timeout`, budgeted retries of what is safe, per-endpoint breaker).
 * - {@link grpcTransport}: one endpoint's calls as a `Service`, for the client pipeline.
 * - The seed's `user.UserService`, generated from `proto/user/user_service.proto`.
 */
export {
  type GrpcCallOptions,
  type GrpcClient,
  type GrpcClientMethod,
  type GrpcClientOptions,
  type GrpcPolicyOptions,
  grpcClient,
} from './client/client.ts';
export type { GrpcClientTlsOptions } from './client/connection.ts';
export { grpcRouteAdapter } from './client/route-adapter.ts';
export { type GrpcTransport, type GrpcTransportOptions, grpcTransport } from './client/transport.ts';
export type { GrpcRequest, GrpcResponse, GrpcStreamResponse, GrpcUnaryResponse } from './client/types.ts';
export { badRequest, type FieldViolation, fieldViolations } from './details.ts';
export { GrpcStatusError, type GrpcStatusErrorOptions, statusOf } from './errors.ts';
export * from './gen/user/user_service_pb.ts';
export { type HealthState, HealthStatus } from './server/health.ts';
export {
  type GrpcRegistrationOptions,
  type GrpcServer,
  type GrpcServerAddress,
  type GrpcServerOptions,
  type GrpcServerTlsOptions,
  grpcServer,
} from './server/server.ts';
export type { ServerCall, ServerStreamingHandler, ServiceImpl, UnaryHandler } from './server/types.ts';
export type { ReceivedMetadata } from './wire/metadata.ts';
export { Status, statusName } from './wire/status.ts';
