/** Writing the gateway's own answers: problems (RFC 9457) and the kit's encoded replies. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpReply, KitResponse, ProblemDetails } from '@meshkit/http';

/** Writes a reply the kit's layers produced (health, readiness), unless the client is gone. */
export function writeReply(
  res: ServerResponse,
  reply: HttpReply,
  extra: Readonly<Record<string, string>>,
): void {
  if (res.headersSent || res.destroyed) return;
  const bodyless = reply.status === 204 || reply.status === 304;
  res.writeHead(reply.status, {
    ...reply.headers,
    ...extra,
    ...(bodyless ? {} : { 'content-length': reply.body.length }),
  });
  res.end(bodyless ? undefined : reply.body);
}

/** Writes a {@link KitResponse} (a problem, a refusal) as JSON. */
export function writeKit(
  res: ServerResponse,
  kit: KitResponse,
  extra: Readonly<Record<string, string>>,
): void {
  const body = kit.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(kit.body), 'utf8');
  writeReply(res, { status: kit.status ?? 200, headers: { ...kit.headers }, body }, extra);
}

/** The `application/problem+json` answer for `problem`, carrying the request id as an extension member. */
export function problemKit(
  problem: ProblemDetails,
  requestId: string,
  headers: Record<string, string> = {},
): KitResponse {
  return {
    status: problem.status,
    headers: { 'content-type': 'application/problem+json', ...headers },
    body: { type: 'about:blank', ...problem, requestId },
  };
}

/**
 * Reads and discards what is left of an upload the gateway answered without forwarding (a 413), up to
 * `maxBytes`, then closes the connection: closing at once with unread bytes makes the kernel reset it,
 * and the reset can reach the client before the answer.
 */
export function discardUpload(raw: IncomingMessage, maxBytes = 262_144): void {
  if (raw.complete || raw.destroyed) return;
  let seen = 0;
  raw.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > maxBytes) raw.socket?.destroySoon();
  });
  raw.resume();
}
