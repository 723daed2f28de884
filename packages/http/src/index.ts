/**
 * `@meshkit/http`: a resilient REST client over undici and the service-side kit.
 */

// First: on a too-old Node, one line saying which version is needed, before any dependency loads.
import './node-floor.ts';

export { type CallOptions, type ClientRequest, type HttpClient, httpClient } from './client/client.ts';
export { httpObservation } from './client/observation.ts';
export type { HttpClientOptions, HttpPolicyOptions } from './client/options.ts';
export { httpRouteAdapter } from './client/route-adapter.ts';
export { defaultRetryableStatuses, type HttpStatusDetails } from './errors.ts';
export { issuePath, type SchemaIssue, type SchemaResult, type StandardSchema } from './schema.ts';
export type { HttpCall, HttpCallService, HttpReply, IncomingCall } from './server/call.ts';
export type { ConnectionLimitOptions } from './server/connection-limits.ts';
export { type DeadlineLayerOptions, deadlineLayer } from './server/deadline.ts';
export { drainLayer } from './server/drain.ts';
export { type MeshkitFastifyOptions, meshkitFastify } from './server/fastify.ts';
export {
  type HealthLayerOptions,
  healthLayer,
  type ReadinessCheck,
  type ReadinessReport,
  runReadiness,
} from './server/health.ts';
export {
  type IdempotencyClaim,
  type IdempotencyStore,
  type IdempotencyStoreOptions,
  type MemoryIdempotencyStoreOptions,
  memoryIdempotencyStore,
  requestFingerprint,
  type StoredResponse,
} from './server/idempotency.ts';
export { type IdempotencyLayerOptions, idempotencyLayer } from './server/idempotency-layer.ts';
export {
  type InstanceOptions,
  Lifecycle,
  type ShutdownOptions,
  type SignalSource,
} from './server/lifecycle.ts';
export {
  type HttpServerOptions,
  httpServer,
  type KitHandler,
  type MeshServer,
  type ServerLimits,
  type ServerTlsOptions,
} from './server/node-server.ts';
export {
  errorResponse,
  HttpProblem,
  type KitResponse,
  type ProblemDetails,
  problemResponse,
  refusal,
} from './server/problem.ts';
export {
  type RedisCommands,
  type RedisIdempotencyStoreOptions,
  redisIdempotencyStore,
} from './server/redis-idempotency.ts';
export type { ServerRequest } from './server/request.ts';
export { type ServerLayer, type ServerStackOptions, serverStack } from './server/server-stack.ts';
export { type SqliteIdempotencyStoreOptions, sqliteIdempotencyStore } from './server/sqlite-idempotency.ts';
export type { TlsOptions } from './tls.ts';
export { type HttpTransport, type HttpTransportOptions, httpTransport } from './transport.ts';
export {
  type HttpBody,
  type HttpHeaders,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
  type HttpResponseBody,
  idempotentMethods,
  type StreamingHttpResponse,
} from './types.ts';
export { wireHeaders } from './wire.ts';
