import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { InvalidArgumentError } from '@meshkit/core';
import { checkInteger } from '@meshkit/core/internal';
import { problemResponse } from './problem.ts';
import { encodeResponse } from './respond.ts';

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

/** Timeouts and header limits shared by both adapters, validated by their callers. */
export interface ConnectionLimits {
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly maxHeadersCount: number;
}

/**
 * Applies `limits` to a `node:http` server before it listens: the header and whole-request timeouts,
 * checked often enough (Node's default is every 30 s) that a slow client is cut off within about half a
 * second of its limit, and the most headers a request may carry (more is refused with 431).
 */
export function applyConnectionLimits(server: Server, limits: ConnectionLimits): void {
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = limits.headersTimeoutMs;
  // A public property read when the server starts listening, missing from @types/node.
  (server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(
    500,
    Math.max(10, Math.floor(limits.headersTimeoutMs / 2)),
  );
  // One more than the limit reaches the parser's cap: Node 24 refuses a request beyond its cap, but Node 22
  // silently drops the extra headers. Keeping one extra lets the check below see the request went over,
  // so both answer 431 alike, before any 'request' listener (the kit's or Fastify's) runs.
  server.maxHeadersCount = limits.maxHeadersCount + 1;
  const emit = server.emit;
  const limit = limits.maxHeadersCount;
  server.emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'request' && (args[0] as IncomingMessage).rawHeaders.length / 2 > limit) {
      refuseTooManyHeaders(args[1] as ServerResponse);
      return true;
    }
    return Reflect.apply(emit, this, [event, ...args]) as boolean;
  } as Server['emit'];
}

function refuseTooManyHeaders(res: ServerResponse): void {
  const encoded = encodeResponse(
    problemResponse({ status: 431, title: 'request headers too large', field: 'headers' }),
  );
  res.writeHead(431, { ...encoded.headers, connection: 'close' });
  res.end(encoded.body);
}
