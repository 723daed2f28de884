/**
 * `@meshkit/core`: the call contract (`Service`, `Layer`, `stack`), the per-call `CallContext`, the
 * `Endpoint` model, time (`Clock`, `FakeClock`, `TimerQueue`), backoff strategies, the error taxonomy and the typed
 * diagnostics channels. No runtime dependencies.
 */
export {
  type Backoff,
  constantBackoff,
  type ExponentialBackoffOptions,
  exponentialBackoff,
  type Jitter,
} from './backoff.ts';
export { type Clock, FakeClock, sleep, systemClock, type TimerHandle, type TimerOptions } from './clock.ts';
export { Completion, completable, completionOf, whenComplete } from './completion.ts';
export {
  CallContext,
  type CallContextInit,
  type CallKind,
  type CancelHandle,
  type ContextKey,
  contextKey,
  createContext,
  type Metadata,
  type MetadataValue,
  metadataText,
} from './context.ts';
export {
  type Endpoint,
  type EndpointInit,
  type Probe,
  type Readiness,
  staticEndpoint,
} from './endpoint.ts';
export {
  abortError,
  ErrorCode,
  InvalidArgumentError,
  isAbortError,
  isMeshError,
  MeshError,
  type MeshErrorOptions,
} from './errors.ts';
export * from './events.ts';
export * from './exchange-events.ts';
export { GrpcStatus, grpcStatusCode, grpcStatusName } from './grpc-status.ts';
export { classifyError, isEndpointFailure, type Outcome } from './outcome.ts';
export { previousEndpoints } from './previous-endpoints.ts';
export {
  apply,
  cancelsPromptly,
  inheritCancelsPromptly,
  type Layer,
  layer,
  markCancelsPromptly,
  readinessOf,
  type Service,
  type Stack,
  stack,
  withReadiness,
} from './service.ts';
