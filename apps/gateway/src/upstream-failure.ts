/**
 * How a failed upstream call is answered at the edge: RFC 9457 problems for what the gateway saw go
 * wrong (503 nothing could take it, 504 it ran out of time, 502 the upstream broke off), and the
 * upstream's own answer for an error status it sent.
 */
import { ErrorCode, isMeshError, type MeshError } from '@meshkit/core';
import type { HttpStatusDetails, ProblemDetails } from '@meshkit/http';

/** The problem the edge answers for a failure that is not an upstream's own response. */
export function upstreamProblem(error: unknown, service: string): ProblemDetails {
  const failure = rootFailure(error);
  const code = isMeshError(failure) ? failure.code : undefined;
  switch (code) {
    case ErrorCode.NO_ENDPOINT:
    case ErrorCode.CONNECT:
    case ErrorCode.CIRCUIT_OPEN:
    case ErrorCode.BULKHEAD_FULL:
    case ErrorCode.CLOSED:
    case ErrorCode.RATE_LIMITED:
      return {
        status: 503,
        title: 'service unavailable',
        detail: `no instance of ${service} could take the request`,
        code,
      };
    case ErrorCode.TIMEOUT:
    case ErrorCode.DEADLINE_EXCEEDED:
      return {
        status: 504,
        title: 'gateway timeout',
        detail: `${service} did not answer in time`,
        code,
      };
    default:
      return {
        status: 502,
        title: 'bad gateway',
        detail: `the call to ${service} failed`,
        code: code ?? ErrorCode.CONNECTION_RESET,
      };
  }
}

/** The upstream's own error response (`ERR_HTTP_STATUS`), when that is what the call ended with. */
export function upstreamAnswer(error: unknown): HttpStatusDetails | undefined {
  const failure = rootFailure(error);
  return isMeshError(failure) && failure.code === ErrorCode.HTTP_STATUS
    ? (failure.details as HttpStatusDetails)
    : undefined;
}

/** An empty retry budget reports the try that failed as its cause: that is what the edge answers for. */
function rootFailure(error: unknown): unknown {
  if (isMeshError(error) && error.code === ErrorCode.RETRY_BUDGET && error.cause !== undefined) {
    return (error as MeshError).cause;
  }
  return error;
}
