import { ErrorCode, isMeshError } from '@meshkit/core';
import { isRetryableError } from '@meshkit/policies';

/**
 * The client pipeline's retry predicate, for every transport: the policies' default (retryable or
 * refused before work, never a cancellation), except an expired deadline (a downstream that refused for
 * lack of time will refuse again) and a failed TLS handshake (`ERR_CONNECT` with
 * `details.tlsHandshake`: a certificate refused or unverifiable fails the same way again).
 */
export function isRetryableCallError(error: unknown): boolean {
  if (isMeshError(error) && error.code === ErrorCode.DEADLINE_EXCEEDED) return false;
  if (isMeshError(error) && error.code === ErrorCode.CONNECT && error.details.tlsHandshake === true)
    return false;
  return isRetryableError(error);
}
