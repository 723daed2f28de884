import { ErrorCode, isMeshError } from '@meshkit/core';
import { wireHeaders } from '../wire.ts';

/** A response the kit sends: status, headers and a body (JSON-encoded unless bytes or a string). */
export interface KitResponse {
  /** Defaults to 200, or 204 without a body. */
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

/** An RFC 9457 problem document, with meshkit's `code` and the offending `field` when there is one. */
export interface ProblemDetails {
  readonly type?: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  /** A meshkit error code, e.g. `ERR_DEADLINE_EXCEEDED`. */
  readonly code?: string;
  /** The request field at fault, e.g. `email` or `header:content-type`. */
  readonly field?: string;
  /** Every field at fault, for validation failures. */
  readonly errors?: readonly { readonly field: string; readonly message: string }[];
}

/**
 * Throw from a handler to answer with an `application/problem+json` response (RFC 9457).
 *
 * @example
 * ```ts
 * const users = new Map<string, { name: string }>();
 * const user = users.get('42');
 * if (user === undefined) throw new HttpProblem({ status: 404, title: 'user not found', field: 'id' });
 * ```
 */
export class HttpProblem extends Error {
  readonly problem: ProblemDetails;
  readonly headers: Readonly<Record<string, string>>;
  constructor(problem: ProblemDetails, headers: Readonly<Record<string, string>> = {}) {
    super(problem.detail ?? problem.title);
    this.name = 'HttpProblem';
    this.problem = problem;
    this.headers = headers;
  }
}

/** The problem response for `problem`. */
export function problemResponse(problem: ProblemDetails, headers: Record<string, string> = {}): KitResponse {
  return {
    status: problem.status,
    headers: { 'content-type': 'application/problem+json', ...headers },
    body: { type: 'about:blank', ...problem },
  };
}

/** A refusal made before any work: the client may retry it anywhere, even a POST. */
export function refusal(problem: ProblemDetails, headers: Record<string, string> = {}): KitResponse {
  return problemResponse(problem, {
    [wireHeaders.rejected]: '1',
    ...(problem.code === undefined ? {} : { [wireHeaders.errorCode]: problem.code }),
    ...headers,
  });
}

/**
 * Turns anything a handler threw into a response that never carries a stack trace or an internal
 * message: an {@link HttpProblem} as written, meshkit's invalid input as 400, an expired deadline as
 * 504, a server shutting down as 503 (both marked `x-meshkit-rejected` when refused before any work),
 * everything else as a bare 500.
 */
export function errorResponse(error: unknown): KitResponse {
  if (error instanceof HttpProblem) return problemResponse(error.problem, { ...error.headers });
  if (isMeshError(error)) {
    if (error.code === ErrorCode.INVALID_ARGUMENT || error.code === ErrorCode.INVALID_PAYLOAD) {
      const field = error.details.field;
      return problemResponse({
        status: 400,
        title: 'invalid request',
        detail: error.message,
        code: error.code,
        ...(typeof field === 'string' ? { field } : {}),
      });
    }
    if (error.code === ErrorCode.DEADLINE_EXCEEDED || error.code === ErrorCode.CLOSED) {
      const problem = {
        status: error.code === ErrorCode.CLOSED ? 503 : 504,
        title: error.code === ErrorCode.CLOSED ? 'shutting down' : 'deadline exceeded',
        code: error.code,
      };
      const retryAfterMs = error.details.retryAfterMs;
      const retryAfter: Record<string, string> =
        typeof retryAfterMs === 'number' ? { 'retry-after': String(Math.ceil(retryAfterMs / 1_000)) } : {};
      // Refused before any work: the caller may send it again, elsewhere, whatever the method.
      return error.rejected
        ? refusal(problem, retryAfter)
        : problemResponse(problem, { [wireHeaders.errorCode]: error.code, ...retryAfter });
    }
  }
  return problemResponse({ status: 500, title: 'internal error' });
}
