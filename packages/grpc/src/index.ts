/**
 * @meshkit/grpc: gRPC over `node:http2` with the same `Service`/`Layer` policies as HTTP.
 *
 * - {@link grpcServer}: serve generated service implementations (deadlines, status codes, metadata,
 *   trailers, server streaming with flow control, `grpc.health.v1`, TLS/mTLS, graceful shutdown).
 * - {@link grpcTransport}: one endpoint's calls as a `Service`, for the client pipeline.
 * - The seed's `user.UserService`, generated from `proto/user/user_service.proto`.
 */
export { GrpcStatusError, type GrpcStatusErrorOptions, statusOf } from './errors.ts';
export * from './gen/user/user_service_pb.ts';
export { type HealthState, HealthStatus } from './server/health.ts';
export {
  type GrpcServer,
  type GrpcServerAddress,
  type GrpcServerOptions,
  type GrpcServerTlsOptions,
  grpcServer,
} from './server/server.ts';
export type { ServerCall, ServerStreamingHandler, ServiceImpl, UnaryHandler } from './server/types.ts';
export type { Metadata, MetadataValue, ReceivedMetadata } from './wire/metadata.ts';
export { Status, statusName } from './wire/status.ts';
