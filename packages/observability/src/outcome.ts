import { ErrorCode, isAbortError, isMeshError } from '@meshkit/core';

const refusals: ReadonlySet<string> = new Set([
  ErrorCode.CIRCUIT_OPEN,
  ErrorCode.BULKHEAD_FULL,
  ErrorCode.RETRY_BUDGET,
  ErrorCode.RATE_LIMITED,
  ErrorCode.NO_ENDPOINT,
]);

/** What observers report of a finished exchange (a label, bounded: five values). */
export type ExchangeOutcome = 'success' | 'error' | 'timeout' | 'cancelled' | 'rejected';

/** The outcome of an exchange from its error (`undefined` when it succeeded). */
export function outcomeOf(error: unknown): ExchangeOutcome {
  if (error === undefined) return 'success';
  if (isAbortError(error)) return 'cancelled';
  if (isMeshError(error)) {
    if (error.code === ErrorCode.TIMEOUT || error.code === ErrorCode.DEADLINE_EXCEEDED) return 'timeout';
    // meshkit's own refusals sent nothing downstream.
    if (refusals.has(error.code)) return 'rejected';
  }
  return 'error';
}

/** The HTTP status an exchange answered: the response's, or the one an `ERR_HTTP_STATUS` carries. */
export function httpStatusOf(result: unknown, error: unknown): number | undefined {
  if (error === undefined) {
    const status = (result as { status?: unknown } | undefined)?.status;
    return typeof status === 'number' ? status : undefined;
  }
  if (isMeshError(error) && typeof error.details.status === 'number') return error.details.status;
  return undefined;
}

/** The gRPC status code of a client call: 0 on success, the error's `grpcStatus`, else 2 (UNKNOWN). */
export function grpcStatusOf(error: unknown): number {
  if (error === undefined) return 0;
  if (isAbortError(error)) return 1;
  if (isMeshError(error)) {
    if (typeof error.details.grpcStatus === 'number') return error.details.grpcStatus;
    if (error.code === ErrorCode.DEADLINE_EXCEEDED || error.code === ErrorCode.TIMEOUT) return 4;
    if (refusals.has(error.code)) return 14;
  }
  return 2;
}
