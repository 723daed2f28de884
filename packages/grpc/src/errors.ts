import type { Metadata } from '@meshkit/core';
import { ErrorCode, isAbortError, isMeshError, MeshError } from '@meshkit/core';
import type { ReceivedMetadata } from './wire/metadata.ts';
import { Status, statusName } from './wire/status.ts';

/** Options of {@link GrpcStatusError}. */
export interface GrpcStatusErrorOptions {
  /** Metadata sent in the trailers with the status (a server) or received with it (a client). */
  readonly metadata?: Metadata | ReceivedMetadata;
  /** The underlying failure. */
  readonly cause?: unknown;
  /** The server refused before doing any work: a retry is safe even for a non-idempotent method. */
  readonly rejected?: boolean;
}

/**
 * A gRPC call that ended with a non-OK status. Callers branch on `status` (`Status.NOT_FOUND`), never on
 * the message (`details.grpcStatus` holds it too, for code that reads only details). Its `code` is `ERR_DEADLINE_EXCEEDED` for `DEADLINE_EXCEEDED` and `ERR_GRPC_STATUS` for
 * every other status; `retryable` is set for `UNAVAILABLE` and `RESOURCE_EXHAUSTED` (the statuses gRPC
 * names as transient). `details.metadata` holds the trailers, so the retry policy reads
 * `grpc-retry-pushback-ms` from them.
 *
 * A server handler throws one to answer with that status:
 *
 * @example
 * ```ts
 * // in a handler
 * function notFound(id: string): never {
 *   throw new GrpcStatusError(Status.NOT_FOUND, `no user ${id}`);
 * }
 * // on the client
 * async function findUser(call: () => Promise<User>): Promise<User | undefined> {
 *   try {
 *     return await call();
 *   } catch (err) {
 *     if (err instanceof GrpcStatusError && err.status === Status.NOT_FOUND) return undefined;
 *     throw err;
 *   }
 * }
 * ```
 */
export class GrpcStatusError extends MeshError {
  /** The gRPC status code. */
  readonly status: Status;
  /** The status message (`grpc-message`), decoded. */
  readonly grpcMessage: string;
  /** Trailing metadata sent or received with the status. */
  readonly metadata: Metadata | ReceivedMetadata;

  constructor(status: Status, message = '', options: GrpcStatusErrorOptions = {}) {
    const metadata = options.metadata ?? {};
    super(
      status === Status.DEADLINE_EXCEEDED ? ErrorCode.DEADLINE_EXCEEDED : ErrorCode.GRPC_STATUS,
      `${statusName(status)}${message === '' ? '' : `: ${message}`}`,
      {
        cause: options.cause,
        retryable: status === Status.UNAVAILABLE || status === Status.RESOURCE_EXHAUSTED,
        rejected: options.rejected ?? false,
        details: { grpcStatus: status, grpcStatusName: statusName(status), metadata },
      },
    );
    this.name = 'GrpcStatusError';
    this.status = status;
    this.grpcMessage = message;
    this.metadata = metadata;
  }

  /** Brand-free check that also accepts a copy from another install (by `code` and `status`). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isMeshError(value) && typeof (value as { status?: unknown }).status === 'number';
  }
}

/**
 * The status a server answers for an error thrown by a handler: a {@link GrpcStatusError} keeps its own;
 * our errors map by code (bad input → `INVALID_ARGUMENT`, deadline → `DEADLINE_EXCEEDED`, open circuit
 * or full bulkhead → `UNAVAILABLE` / `RESOURCE_EXHAUSTED`, cancellation → `CANCELLED`); anything else is
 * `UNKNOWN` with no message (a server does not leak its internals).
 */
export function statusOf(error: unknown): { status: Status; message: string } {
  if (error instanceof GrpcStatusError) return { status: error.status, message: error.grpcMessage };
  if (isAbortError(error)) return { status: Status.CANCELLED, message: 'cancelled' };
  if (!isMeshError(error)) return { status: Status.UNKNOWN, message: '' };
  switch (error.code) {
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.INVALID_PAYLOAD:
      return { status: Status.INVALID_ARGUMENT, message: error.message };
    case ErrorCode.DEADLINE_EXCEEDED:
    case ErrorCode.TIMEOUT:
      return { status: Status.DEADLINE_EXCEEDED, message: error.message };
    case ErrorCode.CIRCUIT_OPEN:
    case ErrorCode.NO_ENDPOINT:
    case ErrorCode.CONNECT:
    case ErrorCode.CONNECTION_RESET:
    case ErrorCode.CLOSED:
      return { status: Status.UNAVAILABLE, message: error.message };
    case ErrorCode.BULKHEAD_FULL:
    case ErrorCode.RATE_LIMITED:
    case ErrorCode.RETRY_BUDGET:
      return { status: Status.RESOURCE_EXHAUSTED, message: error.message };
    default:
      return { status: Status.UNKNOWN, message: '' };
  }
}
