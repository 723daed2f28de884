import { abortError, ErrorCode, isAbortError, isMeshError } from '@meshkit/core';

/**
 * Error helpers shared by the policies: how a cancellation is surfaced and which failures are local
 * refusals (the call never left this process) rather than signs of a sick downstream.
 */

/** The reason as an `AbortError`: cancellation always surfaces as the platform `AbortError`. */
export function toAbortError(reason: unknown): Error {
  return isAbortError(reason) ? (reason as Error) : abortError(reason);
}

const localRefusals: ReadonlySet<string> = new Set([
  ErrorCode.BULKHEAD_FULL,
  ErrorCode.CIRCUIT_OPEN,
  ErrorCode.RATE_LIMITED,
  ErrorCode.RETRY_BUDGET,
]);

/** `true` for errors a layer of this process raised without sending anything (bulkhead full, ...). */
export function isLocalRefusal(error: unknown): boolean {
  return isMeshError(error) && localRefusals.has(error.code);
}
