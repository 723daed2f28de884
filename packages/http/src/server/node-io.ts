import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type CallContext, type Clock, createContext } from '@meshkit/core';
import { propagatedHeaders, wireHeaders } from '../wire.ts';
import { problemResponse } from './problem.ts';
import { encodeResponse } from './respond.ts';

// After an answer sent before the upload ended (413, a refusal), at most this much more of the body is
// read so the connection can be kept; past it, or past the linger time, the connection is closed.
const uploadDrainBytes = 262_144;
// How long a closing connection keeps reading (and discarding) after its last answer, in ms: closing
// with unread bytes makes the kernel send a reset, which can wipe the answer before the client reads it.
const lingerMs = 1_000;

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
  server.maxHeadersCount = limits.maxHeadersCount;
}

/**
 * Answers what Node's parser refused before any handler saw it, as RFC 9457 problems: 431 for headers
 * too large or too many, 408 for a request not received in time, 400 for anything malformed. Install as
 * the server's only `clientError` listener.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  const response = (socket as { _httpMessage?: ServerResponse })._httpMessage;
  if (!socket.writable || error.code === 'ECONNRESET' || response?.headersSent === true) {
    socket.destroy();
    return;
  }
  const [status, reason, title] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'request headers too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request timeout']
        : [400, 'Bad Request', 'malformed request'];
  const field = status === 408 ? undefined : 'headers';
  const detail = status === 408 ? 'the request was not received in time' : undefined;
  const encoded = encodeResponse(
    problemResponse({
      status,
      title,
      ...(detail === undefined ? {} : { detail }),
      ...(field === undefined ? {} : { field }),
    }),
  );
  socket.write(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/problem+json\r\n` +
      `content-length: ${encoded.body.length}\r\nconnection: close\r\n\r\n`,
  );
  socket.write(encoded.body);
  lingerClose(socket);
}

/**
 * Closes `socket` gently: sends FIN after what is queued, keeps reading and discarding what the client
 * still sends for up to a second, then closes. The client reads the answer before any reset.
 */
export function lingerClose(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end();
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  socket.once('close', () => clearTimeout(timer));
}

/**
 * Call once the answer to `raw` is on its way: when the client is still uploading, reads and discards
 * up to 256 KiB more of the body (then the connection can be kept), and otherwise closes it gently, so
 * the answer (a 413, a refusal) reaches the client instead of being wiped by a reset.
 */
export function discardUpload(raw: IncomingMessage): void {
  if (!uploadPending(raw) || raw.destroyed) return;
  let left = uploadDrainBytes;
  const socket = raw.socket;
  const cutOff = (): void => {
    clearTimeout(timer);
    raw.removeListener('data', onData);
    lingerClose(socket);
  };
  const onData = (chunk: Buffer): void => {
    left -= chunk.length;
    if (left < 0) cutOff();
  };
  const timer = setTimeout(cutOff, lingerMs);
  raw.once('end', () => clearTimeout(timer));
  raw.once('close', () => clearTimeout(timer));
  raw.on('data', onData);
  raw.resume();
}

/** `true` while the client may still be sending `raw`'s body: closing now would reset the connection. */
export function uploadPending(raw: IncomingMessage): boolean {
  if (raw.complete) return false;
  const length = raw.headers['content-length'];
  return raw.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The request id (the caller's, or a new one) and the context a request's layers start from. */
export function requestContext(
  headers: IncomingHttpHeaders,
  clock: Clock,
  signal: AbortSignal,
): { readonly requestId: string; readonly ctx: CallContext } {
  const requestId = first(headers[wireHeaders.requestId]) ?? randomUUID();
  const metadata: Record<string, string> = { [wireHeaders.requestId]: requestId };
  for (const name of propagatedHeaders) {
    const value = first(headers[name]);
    if (value !== undefined && name !== wireHeaders.requestId) metadata[name] = value;
  }
  return { requestId, ctx: createContext({ clock, signal, metadata }) };
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
