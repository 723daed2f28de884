import { checkInteger, InvalidArgumentError } from '@meshkit/core';
import type { ConnectionLimits } from './node-io.ts';

/** Limits on how a client sends its request, the same for the node kit and the Fastify plugin. */
export interface ConnectionLimitOptions {
  /**
   * How long a client may take to send a whole request (headers and body), in ms; a slower one is
   * answered 408 and disconnected, within about half a second of the limit. Defaults to 30,000.
   */
  readonly requestTimeoutMs?: number;
  /**
   * How long a client may take to send the request headers, in ms; at most `requestTimeoutMs`. A slower
   * one is answered 408. Defaults to `requestTimeoutMs`.
   */
  readonly headersTimeoutMs?: number;
  /**
   * Most header lines a request may carry, counting every line (`host` too); more is refused with 431.
   * Raise it when proxies in front add many headers. Defaults to 100.
   */
  readonly maxHeadersCount?: number;
}

/** Checks {@link ConnectionLimitOptions}, naming fields under `field`. */
export function checkConnectionLimits(field: string, options: ConnectionLimitOptions): ConnectionLimits {
  const requestTimeoutMs = checkInteger(`${field}.requestTimeoutMs`, options.requestTimeoutMs ?? 30_000, 1);
  const headersTimeoutMs = checkInteger(
    `${field}.headersTimeoutMs`,
    options.headersTimeoutMs ?? requestTimeoutMs,
    1,
  );
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new InvalidArgumentError(
      `${field}.headersTimeoutMs`,
      'must be at most requestTimeoutMs',
      headersTimeoutMs,
    );
  }
  const maxHeadersCount = checkInteger(`${field}.maxHeadersCount`, options.maxHeadersCount ?? 100, 1);
  return { requestTimeoutMs, headersTimeoutMs, maxHeadersCount };
}
