import { ErrorCode, isAbortError, isMeshError } from './errors.ts';
import { GrpcStatus } from './grpc-status.ts';

/**
 * What a failed call says about the endpoint that served it: the one rule the balancer's outlier
 * detection, the per-endpoint circuit breakers of every client and the metrics share. Transports report
 * failures as `MeshError`s; this file is the single place that maps them (Envoy's model):
 *
 * | outcome   | from                                                                              |
 * | --------- | --------------------------------------------------------------------------------- |
 * | `local`   | `ERR_CONNECT`, `ERR_CONNECTION_RESET`, `ERR_TIMEOUT`; Node socket errors (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, `EHOSTUNREACH`, `ENETUNREACH`, `EPIPE`) |
 * | `gateway` | `ERR_HTTP_STATUS` with `details.status` 502, 503 or 504; `ERR_GRPC_STATUS` with `details.grpcStatus` 14 (UNAVAILABLE) |
 * | `error`   | any other `ERR_HTTP_STATUS` with status >= 500; `ERR_GRPC_STATUS` 2, 13, 15 (UNKNOWN, INTERNAL, DATA_LOSS); any error that is not a `MeshError` |
 * | `ignore`  | `ERR_CONNECT` with `details.tlsAlert` (the server refused the client's certificate: the client's configuration, not the endpoint), cancellation, 4xx, other gRPC codes, and meshkit's own refusals (`ERR_CIRCUIT_OPEN`, `ERR_BULKHEAD_FULL`, `ERR_DEADLINE_EXCEEDED`, ...): they say nothing about the endpoint |
 * | `success` | a resolved call |
 */
export type Outcome = 'success' | 'error' | 'gateway' | 'local' | 'ignore';

const socketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/**
 * The default classification of a failed call; see the table above.
 *
 * @example
 * ```ts
 * import { MeshError } from '@meshkit/core';
 * classifyError(new MeshError('ERR_HTTP_STATUS', '503', { details: { status: 503 } })); // 'gateway'
 * ```
 */
export function classifyError(error: unknown): Outcome {
  if (isAbortError(error)) return 'ignore';
  if (isMeshError(error)) {
    switch (error.code) {
      case ErrorCode.CONNECT:
        return typeof error.details.tlsAlert === 'string' ? 'ignore' : 'local';
      case ErrorCode.CONNECTION_RESET:
      case ErrorCode.TIMEOUT:
        return 'local';
      case ErrorCode.HTTP_STATUS: {
        const status = error.details.status;
        if (status === 502 || status === 503 || status === 504) return 'gateway';
        return typeof status === 'number' && status >= 500 ? 'error' : 'ignore';
      }
      case ErrorCode.GRPC_STATUS: {
        const code = error.details.grpcStatus;
        if (code === GrpcStatus.UNAVAILABLE) return 'gateway';
        return code === GrpcStatus.UNKNOWN || code === GrpcStatus.INTERNAL || code === GrpcStatus.DATA_LOSS
          ? 'error'
          : 'ignore';
      }
      default:
        return 'ignore';
    }
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && socketCodes.has(code)) return 'local';
  return 'error';
}

/**
 * `true` when `error` counts against the endpoint that produced it (its circuit breaker, outlier
 * detection): it could not be reached, broke the connection, timed out, or failed on the server
 * (`local`, `gateway` or `error` above). A 4xx, a cancellation or a local refusal says nothing of it.
 */
export function isEndpointFailure(error: unknown): boolean {
  return classifyError(error) !== 'ignore';
}
