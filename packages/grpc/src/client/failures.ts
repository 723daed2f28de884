import { ErrorCode, isAbortError, isMeshError } from '@meshkit/core';
import { isRetryableError } from '@meshkit/policies';
import { Status } from '../wire/status.ts';

/**
 * What counts against an endpoint's circuit: it could not be reached, lost the connection, timed out, or
 * answered a status that speaks of the server (`UNAVAILABLE`, `INTERNAL`, `UNKNOWN`, `DATA_LOSS`). A
 * status about the request (`NOT_FOUND`, `INVALID_ARGUMENT`, ...) says nothing about the endpoint; nor
 * does a cancellation or a local refusal.
 */
export function isEndpointFailure(error: unknown): boolean {
  if (isAbortError(error)) return false;
  if (!isMeshError(error)) return true;
  switch (error.code) {
    case ErrorCode.CONNECT:
    case ErrorCode.CONNECTION_RESET:
    case ErrorCode.TIMEOUT:
      return true;
    case ErrorCode.GRPC_STATUS: {
      const status = error.details.grpcStatus;
      return (
        status === Status.UNAVAILABLE ||
        status === Status.INTERNAL ||
        status === Status.UNKNOWN ||
        status === Status.DATA_LOSS
      );
    }
    default:
      return false;
  }
}

/**
 * The client's retry predicate: the policies' default (`retryable` — `UNAVAILABLE`,
 * `RESOURCE_EXHAUSTED`, a connection failure, an attempt timeout — or refused before any work), never an
 * expired deadline (a downstream that ran out of time will again). Whether a non-idempotent method may
 * be repeated is the retry layer's own check (`ctx.idempotent`, or `rejected`).
 */
export function isRetryableGrpcError(error: unknown): boolean {
  if (isMeshError(error) && error.code === ErrorCode.DEADLINE_EXCEEDED) return false;
  return isRetryableError(error);
}
