import { ErrorCode, isAbortError, isMeshError } from '@meshkit/core';
import { isRetryableError } from '@meshkit/policies';

/**
 * What counts against an endpoint's circuit: it could not be reached, broke the connection, timed out,
 * or answered 5xx. A 4xx says the request was wrong, not the endpoint; a cancellation or a local refusal
 * says nothing at all.
 */
export function isEndpointFailure(error: unknown): boolean {
  if (isAbortError(error) || !isMeshError(error)) return !isAbortError(error);
  switch (error.code) {
    case ErrorCode.CONNECT:
    case ErrorCode.CONNECTION_RESET:
    case ErrorCode.TIMEOUT:
      return true;
    case ErrorCode.HTTP_STATUS: {
      const status = error.details.status;
      return typeof status === 'number' && status >= 500;
    }
    default:
      return false;
  }
}

/**
 * The client's retry predicate: the policies' default (retryable or refused before work, never a
 * cancellation), except an expired deadline: a downstream that refused for lack of time will refuse again.
 */
export function isRetryableHttpError(error: unknown): boolean {
  if (isMeshError(error) && error.code === ErrorCode.DEADLINE_EXCEEDED) return false;
  return isRetryableError(error);
}
