import type { ServerResponse } from 'node:http';
import type { StoredResponse } from './idempotency.ts';
import type { KitResponse } from './problem.ts';

/** Encodes a {@link KitResponse} into status, headers and bytes: JSON unless bytes or a string. */
export function encodeResponse(response: KitResponse): StoredResponse {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers ?? {})) headers[name.toLowerCase()] = value;
  const { body } = response;
  let bytes: Buffer;
  if (body === undefined || body === null) bytes = Buffer.alloc(0);
  else if (Buffer.isBuffer(body)) bytes = body;
  else if (body instanceof Uint8Array) bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  else if (typeof body === 'string') {
    bytes = Buffer.from(body, 'utf8');
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else {
    bytes = Buffer.from(JSON.stringify(body), 'utf8');
    headers['content-type'] ??= 'application/json';
  }
  if (bytes.length > 0) headers['content-type'] ??= 'application/octet-stream';
  const status = response.status ?? (body === undefined ? 204 : 200);
  return { status, headers, body: bytes };
}

/** Writes an encoded response, unless the client is already gone. */
export function writeResponse(
  res: ServerResponse,
  response: StoredResponse,
  extraHeaders: Readonly<Record<string, string>>,
): void {
  // Gone, or already answered on the socket itself (a 408 from the request timeout).
  if (res.headersSent || res.destroyed || res.socket?.writableEnded === true) return;
  const headers: Record<string, string | number> = { ...response.headers, ...extraHeaders };
  if (response.status !== 204 && response.status !== 304) headers['content-length'] = response.body.length;
  res.writeHead(response.status, headers);
  res.end(response.status === 204 || response.status === 304 ? undefined : response.body);
}
