import { abortError, type CallContext, ErrorCode, isMeshError, MeshError } from '@meshkit/core';
import { tlsFailure } from '@meshkit/core/internal';
import { parseRetryAfter } from '@meshkit/policies';
import type { HttpHeaders, HttpResponseBody } from './types.ts';
import { wireHeaders } from './wire.ts';

/** Error codes of a failed connection attempt: nothing was sent, so any retry is safe. */
const connectCodes = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/** The connection broke after the request may have been written, before a complete response. */
const resetCodes = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNABORTED']);

/**
 * A response body over `maxResponseBytes`: declared by its `content-length` or counted while reading.
 * Not retryable (the endpoint would send the same again) and not the endpoint's fault for its breaker.
 */
export function responseTooLarge(address: string, limit: number, declared?: number): MeshError {
  const size = declared === undefined ? 'more than' : `${declared} bytes, over`;
  return new MeshError(
    ErrorCode.INVALID_PAYLOAD,
    `response from ${address} is ${size} maxResponseBytes (${limit} bytes); raise transport.maxResponseBytes or stream it with request()`,
    {
      details: { address, field: 'maxResponseBytes', limit, ...(declared === undefined ? {} : { declared }) },
    },
  );
}

/** undici's error when a body passes its `maxResponseSize`. */
const tooLargeCode = 'UND_ERR_RES_EXCEEDED_MAX_SIZE';

/** The statuses retried by default: throttling and the transient server-side failures. */
export const defaultRetryableStatuses: readonly number[] = [429, 500, 502, 503, 504];

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/**
 * Turns whatever undici threw into the error the caller sees: the abort reason when the call was
 * cancelled (a policy's `MeshError` as is, anything else as the platform `AbortError`), or a
 * `MeshError` with a code telling whether the request could have reached the server.
 */
export function mapTransportError(
  error: unknown,
  ctx: CallContext,
  address: string,
  maxResponseBytes?: number,
): unknown {
  if (ctx.aborted) {
    const reason = ctx.abortReason;
    return isMeshError(reason) ? reason : abortError(reason);
  }
  if (isMeshError(error)) return error;
  const code = codeOf(error);
  const details = { address, cause: code };
  if (code === tooLargeCode && maxResponseBytes !== undefined)
    return responseTooLarge(address, maxResponseBytes);
  if (connectCodes.has(code)) {
    return new MeshError(ErrorCode.CONNECT, `cannot connect to ${address} (${code})`, {
      cause: error,
      retryable: true,
      rejected: true,
      details,
    });
  }
  const tls = tlsFailure(code, address, error);
  if (tls !== undefined) return tls;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new MeshError(ErrorCode.TIMEOUT, `${address} did not answer in time (${code})`, {
      cause: error,
      retryable: true,
      details,
    });
  }
  if (resetCodes.has(code)) {
    return new MeshError(ErrorCode.CONNECTION_RESET, `connection to ${address} closed before a response`, {
      cause: error,
      retryable: true,
      details,
    });
  }
  return new MeshError(ErrorCode.CONNECTION_RESET, `request to ${address} failed: ${String(error)}`, {
    cause: error,
    details,
  });
}

/** What an `ERR_HTTP_STATUS` error carries in `details`. */
export type HttpStatusDetails = {
  readonly status: number;
  readonly headers: HttpHeaders;
  /** The first bytes of the response body, decoded as UTF-8. */
  readonly body: string;
  /** The server's `Retry-After`, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | undefined;
  readonly address: string;
  /** The request's method, when known. */
  readonly method?: string | undefined;
  /** The request's path without its query string, when known. */
  readonly path?: string | undefined;
};

/** Options of {@link statusError}. */
export interface StatusErrorOptions {
  readonly retryableStatuses: ReadonlySet<number>;
  /** How much of the body to keep, in bytes. */
  readonly maxBodyBytes: number;
  readonly nowMs: number;
  readonly address: string;
  /** The request, named in the message: `GET /users/42 → http://10.0.0.7:8080 answered 404`. */
  readonly method?: string | undefined;
  readonly path?: string | undefined;
}

/**
 * Reads at most `maxBodyBytes` of a non-2xx response (then discards the rest, so the connection can be
 * reused) and builds the `ERR_HTTP_STATUS` error. A meshkit server's refusal before work
 * (`x-meshkit-rejected`) is marked `rejected`, and its expired deadline surfaces as
 * `ERR_DEADLINE_EXCEEDED`, never retried.
 */
export async function statusError(
  status: number,
  headers: HttpHeaders,
  body: HttpResponseBody,
  options: StatusErrorOptions,
): Promise<MeshError> {
  return statusErrorFrom(status, headers, await readExcerpt(body, options.maxBodyBytes), options);
}

/** {@link statusError} for a body excerpt already in hand. */
export function statusErrorFrom(
  status: number,
  headers: HttpHeaders,
  excerpt: string,
  options: StatusErrorOptions,
): MeshError {
  const retryAfterMs = parseRetryAfter(headers['retry-after'], options.nowMs);
  const details: HttpStatusDetails = {
    status,
    headers,
    body: excerpt,
    retryAfterMs,
    address: options.address,
    method: options.method,
    path: options.path,
  };
  const request =
    options.method === undefined
      ? options.address
      : `${options.method} ${options.path ?? ''} → ${options.address}`;
  const rejected = headers[wireHeaders.rejected] !== undefined || status === 429;
  if (headers[wireHeaders.errorCode] === ErrorCode.DEADLINE_EXCEEDED) {
    return new MeshError(ErrorCode.DEADLINE_EXCEEDED, `${request} refused: deadline exceeded`, {
      rejected,
      details,
    });
  }
  // A meshkit server that refused before work and named a time to come back (draining, a request
  // with the same idempotency key still running) is worth asking again, whatever the status.
  const comeBack = headers[wireHeaders.rejected] !== undefined && retryAfterMs !== undefined;
  return new MeshError(ErrorCode.HTTP_STATUS, `${request} answered ${status}`, {
    retryable: options.retryableStatuses.has(status) || comeBack,
    rejected,
    details,
  });
}

/** How far past the excerpt an error body is read so the connection can be reused, in bytes. */
export const drainLimitBytes = 64 * 1024;

async function readExcerpt(body: HttpResponseBody, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  let seen = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      seen += chunk.length;
      if (size < maxBytes) {
        const part = chunk.subarray(0, maxBytes - size);
        chunks.push(part);
        size += part.length;
      }
      // Reading a little past the limit lets the connection be reused; a huge body is cut off instead.
      if (seen > maxBytes + drainLimitBytes) {
        body.destroy();
        break;
      }
    }
  } catch {
    // A body that breaks off still leaves the status and what was read.
  }
  return Buffer.concat(chunks).toString('utf8');
}
