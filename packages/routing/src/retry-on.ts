import { ErrorCode, GrpcStatus, grpcStatusCode, isAbortError, isMeshError } from '@meshkit/core';

/** The `retryOn` conditions meshkit maps onto failures (Envoy's names, as Istio passes them on). */
export const retryConditions = [
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'refused-stream',
  'retriable-4xx',
  'retriable-status-codes',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
] as const;

/** One of {@link retryConditions}. */
export type RetryCondition = (typeof retryConditions)[number];

/** Envoy conditions that exist but have no meaning in-process: accepted with a warning, never matched. */
export const ignoredRetryConditions: Readonly<Record<string, string>> = {
  'retriable-headers': 'needs retriable_headers, which Istio does not expose',
  'envoy-ratelimited': 'only applies to Envoy rate limiting',
  'http3-post-connect-failure': 'meshkit has no HTTP/3 transport',
};

/** The conditions that name a gRPC status (`deadline-exceeded` is `DEADLINE_EXCEEDED`), in core's table. */
const grpcConditions: ReadonlySet<string> = new Set([
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/**
 * Builds the predicate a retry layer asks about each failure, from the route's conditions:
 *
 * | condition | retries |
 * | --- | --- |
 * | `5xx` | an HTTP status >= 500, a connection that failed, was reset or refused, an attempt that timed out |
 * | `gateway-error` | HTTP 502, 503, 504, and an attempt that timed out |
 * | `reset` | a connection reset or closed before the response, an attempt that timed out |
 * | `connect-failure` | a connection that could not be made (`ERR_CONNECT`) |
 * | `refused-stream` | a request the server refused before doing any work (`rejected` errors) |
 * | `retriable-4xx` | HTTP 409 |
 * | `retriable-status-codes` | the HTTP statuses listed as numbers in `retryOn` |
 * | `cancelled`, `deadline-exceeded`, `internal`, `resource-exhausted`, `unavailable` | that gRPC status |
 *
 * A cancellation by the caller and an expired overall deadline (`ERR_DEADLINE_EXCEEDED`) are never
 * retried, whatever the conditions.
 */
export function retryPredicate(
  conditions: readonly string[],
  retriableStatuses: readonly number[],
): (error: unknown) => boolean {
  const on = new Set(conditions);
  const statuses = new Set(on.has('retriable-status-codes') ? retriableStatuses : []);
  const grpc = new Set<number>();
  for (const c of conditions) if (grpcConditions.has(c)) grpc.add(grpcStatusCode(c)!);
  const any5xx = on.has('5xx');
  const gateway = on.has('gateway-error');
  const reset = on.has('reset');
  const connect = on.has('connect-failure');
  const refused = on.has('refused-stream');
  const conflict = on.has('retriable-4xx');
  return (error) => {
    if (isAbortError(error) || !isMeshError(error)) return false;
    switch (error.code) {
      case ErrorCode.HTTP_STATUS: {
        const status = error.details.status as number;
        if (error.rejected && refused) return true;
        if (any5xx && status >= 500) return true;
        if (gateway && (status === 502 || status === 503 || status === 504)) return true;
        if (conflict && status === 409) return true;
        return statuses.has(status);
      }
      case ErrorCode.GRPC_STATUS: {
        if (error.rejected && refused) return true;
        return grpc.has(error.details.grpcStatus as number);
      }
      case ErrorCode.DEADLINE_EXCEEDED:
        // A server's DEADLINE_EXCEEDED status (its own downstream ran out of time) under
        // `deadline-exceeded`; the retry layer still never retries past the call's own deadline.
        return (
          grpc.has(GrpcStatus.DEADLINE_EXCEEDED) && error.details.grpcStatus === GrpcStatus.DEADLINE_EXCEEDED
        );
      case ErrorCode.CONNECT:
        return connect || reset || any5xx || (refused && error.rejected);
      case ErrorCode.CONNECTION_RESET:
        return reset || any5xx || (refused && error.rejected);
      case ErrorCode.TIMEOUT:
        return reset || any5xx || gateway;
      default:
        return refused && error.rejected;
    }
  };
}
