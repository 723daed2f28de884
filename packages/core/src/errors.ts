/**
 * One error taxonomy for every transport and policy.
 *
 * Policies decide on `code`, `retryable` and `rejected`, never on class identity, so two copies of
 * meshkit in one process (a duplicated install) still understand each other's errors.
 */

/** The closed list of error codes. Callers branch on these strings; they never change meaning. */
export const ErrorCode = {
  /** An attempt ran past its per-attempt timeout and was aborted. */
  TIMEOUT: 'ERR_TIMEOUT',
  /** The call's overall deadline passed (locally or upstream) before it finished. */
  DEADLINE_EXCEEDED: 'ERR_DEADLINE_EXCEEDED',
  /** A circuit breaker is open (or isolated) and refused the call without sending it. */
  CIRCUIT_OPEN: 'ERR_CIRCUIT_OPEN',
  /** A bulkhead's concurrency limit and queue are both full. */
  BULKHEAD_FULL: 'ERR_BULKHEAD_FULL',
  /** The shared retry budget had no token left for a retry or hedge. */
  RETRY_BUDGET: 'ERR_RETRY_BUDGET',
  /** The client-side rate limiter refused the call. */
  RATE_LIMITED: 'ERR_RATE_LIMITED',
  /** No endpoint could take the call (none registered, all unhealthy, all ejected). */
  NO_ENDPOINT: 'ERR_NO_ENDPOINT',
  /** A connection could not be established; the request was never sent. */
  CONNECT: 'ERR_CONNECT',
  /** The connection failed after the request may have been sent. */
  CONNECTION_RESET: 'ERR_CONNECTION_RESET',
  /** An HTTP response had a non-success status. */
  HTTP_STATUS: 'ERR_HTTP_STATUS',
  /** A gRPC call ended with a non-OK status. */
  GRPC_STATUS: 'ERR_GRPC_STATUS',
  /** A payload did not match its schema or could not be decoded. */
  INVALID_PAYLOAD: 'ERR_INVALID_PAYLOAD',
  /** A broker refused (nacked) a published message. */
  BROKER_REJECTED: 'ERR_BROKER_REJECTED',
  /** The component was closed and takes no more calls. */
  CLOSED: 'ERR_CLOSED',
  /** A function or constructor got an argument that breaks its contract. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
} as const;

/** One of the {@link ErrorCode} strings. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const meshErrorBrand = Symbol.for('meshkit.MeshError');
const budgetExhaustedMark = Symbol.for('meshkit.retryBudgetExhausted');

/** Options accepted by {@link MeshError}. */
export interface MeshErrorOptions {
  /** The underlying failure. Defaults to the error itself being the root cause (`cause` = `undefined`). */
  cause?: unknown;
  /** Whether trying again may succeed. Defaults to `false`. */
  retryable?: boolean;
  /** The server refused before doing any work, so a retry is safe even for non-idempotent calls. */
  rejected?: boolean;
  /** Extra structured detail (status, headers, endpoint, ...). */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * The base class of every error meshkit raises on purpose.
 *
 * @example
 * ```ts
 * import { httpClient } from '@meshkit/http';
 * declare function serveCached(): void;
 * const client = httpClient({ service: 'users', endpoints: ['127.0.0.1:8080'] });
 * try { await client.get('/users/42'); }
 * catch (err) { if (isMeshError(err) && err.code === 'ERR_CIRCUIT_OPEN') serveCached(); }
 * ```
 */
export class MeshError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly rejected: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: MeshErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'MeshError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.rejected = options.rejected ?? false;
    this.details = options.details ?? {};
  }

  /** Brand check so `instanceof` works across duplicated installs of `@meshkit/core`. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && meshErrorBrand in value;
  }
}
Object.defineProperty(MeshError.prototype, meshErrorBrand, { value: true });

/** Raised at construction or call time when an option or argument breaks its rule; names the field. */
export class InvalidArgumentError extends MeshError {
  /** The dotted path of the offending field, e.g. `retry.maxAttempts`. */
  readonly field: string;
  constructor(field: string, rule: string, ...received: [unknown?]) {
    const got = received.length > 0 ? ` (received ${describeValue(received[0])})` : '';
    super(ErrorCode.INVALID_ARGUMENT, `${field} ${rule}${got}`, { details: { field } });
    this.name = 'InvalidArgumentError';
    this.field = field;
  }
}

/** `true` when `value` is a {@link MeshError} from any copy of meshkit. */
export function isMeshError(value: unknown): value is MeshError {
  return typeof value === 'object' && value !== null && meshErrorBrand in value;
}

/** `true` when `value` is a cancellation: the platform `AbortError` (never retried). */
export function isAbortError(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { name?: unknown }).name === 'AbortError';
}

/** The platform `AbortError` (a `DOMException`) that every cancelled meshkit call rejects with. */
export function abortError(reason?: unknown): Error {
  const err = new DOMException('The operation was aborted', 'AbortError');
  if (reason !== undefined) Object.defineProperty(err, 'cause', { value: reason, configurable: true });
  return err as unknown as Error;
}

/**
 * Marks `error` as surfaced because the retry budget was exhausted, without replacing it: the caller
 * sees the original failure, and {@link isRetryBudgetExhausted} tells why it was not retried.
 */
export function markRetryBudgetExhausted<E>(error: E): E {
  if (typeof error === 'object' && error !== null && Object.isExtensible(error)) {
    Object.defineProperty(error, budgetExhaustedMark, { value: true, configurable: true });
  }
  return error;
}

/** `true` when a retry of `error` was skipped because the retry budget was empty. */
export function isRetryBudgetExhausted(error: unknown): boolean {
  return typeof error === 'object' && error !== null && budgetExhaustedMark in error;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value;
}
