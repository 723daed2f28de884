/**
 * `meshkit`: the one import most services need. `createMesh()` wires discovery, routing, HTTP and gRPC
 * clients and servers, and durable messaging, with embedded defaults each replaced by an option or an
 * environment variable (see docs/mesh.md).
 */
export {
  type MeshConfig,
  type MeshConfigOptions,
  type MeshEnv,
  type MeshTlsOptions,
  meshConfig,
  meshVariables,
} from './config.ts';
export { type DeadLetter, type DeadLetterBox, deadLetters } from './dead-letters.ts';
export {
  createMesh,
  type Mesh,
  type MeshGrpcOptions,
  type MeshHttpOptions,
  type MeshOptions,
  type MeshPublisherOptions,
  openMesh,
} from './mesh.ts';
export { metricsPortLabel, metricsServer, withMetrics } from './metrics-endpoint.ts';
export { announceReady, type ReadyMessage, type ReadyUrls } from './ready.ts';
export {
  type GrpcBinding,
  grpcService,
  type Served,
  type ServedAddress,
  type ServeOptions,
} from './serve.ts';
export type { BrokerSpec, RegistrySpec } from './specs.ts';
export type { MeshDatabase, MeshInbox, MeshOutbox, MeshOutboxOptions } from './stores.ts';
export type { MeshTelemetry } from './telemetry.ts';
export {
  type MeshLogLevel,
  type MeshTelemetryConfig,
  type MeshTelemetryOptions,
  meshLogLevels,
} from './telemetry-config.ts';
