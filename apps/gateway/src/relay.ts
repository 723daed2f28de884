/** Relaying the upstream's answer, or the gateway's own for a failed call, with the demo's routing view. */
import type { ServerResponse } from 'node:http';
import { endToEnd } from './hop-by-hop.ts';
import { problemKit, writeKit } from './respond.ts';
import type { UpstreamRecord } from './upstream.ts';
import { upstreamAnswer, upstreamProblem } from './upstream-failure.ts';

/** Header names for the demo's view of where a request went. */
export const routingHeaders = {
  subset: 'x-meshkit-subset',
  endpoint: 'x-meshkit-endpoint',
  attempts: 'x-meshkit-attempts',
} as const;

/** Response headers the gateway sets itself. */
export const setOnResponse: ReadonlySet<string> = new Set([
  'x-request-id',
  routingHeaders.subset,
  routingHeaders.endpoint,
  routingHeaders.attempts,
]);

/**
 * The `x-meshkit-subset` / `x-meshkit-endpoint` headers for where a call went and `x-meshkit-attempts` for
 * how many tries it took (none when not exposed).
 */
export function routingView(record: UpstreamRecord, expose: boolean): Record<string, string> {
  if (!expose) return {};
  const out: Record<string, string> = {};
  if (record.subset !== undefined) out[routingHeaders.subset] = record.subset;
  if (record.endpoint !== undefined) out[routingHeaders.endpoint] = record.endpoint;
  if (record.attempts > 0) out[routingHeaders.attempts] = String(record.attempts);
  return out;
}

/** Abandons an upstream body nobody will read (undici reports that as an error, expected here). */
export function drop(body: NodeJS.ReadableStream & { destroy(): void }): void {
  body.on('error', () => {});
  body.destroy();
}

/**
 * Streams an upstream body to the client with backpressure, and resolves once either side is done: the
 * body ended (the answer is complete), broke off, or ran past `maxBytes` (the client's connection is
 * then destroyed, so it sees a cut body rather than a complete-looking one), or the client went away
 * (the upstream body is abandoned, which aborts the upstream request). Node's `pipeline()` would do
 * the same at the price of an error object and an abort signal for every response.
 */
export function relayBody(
  body: NodeJS.ReadableStream & { destroy(): void; readonly readableEnded: boolean },
  res: ServerResponse,
  maxBytes: number,
): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      body.removeListener('data', onData);
      res.removeListener('drain', onDrain);
      res.removeListener('close', onClientGone);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > maxBytes) {
        drop(body);
        res.destroy();
        finish();
      } else if (!res.write(chunk)) body.pause();
    };
    const onDrain = (): void => {
      body.resume();
    };
    const onClientGone = (): void => {
      if (!body.readableEnded) drop(body);
      finish();
    };
    body.on('data', onData);
    res.on('drain', onDrain);
    res.once('close', onClientGone);
    body.once('end', () => {
      res.end();
      finish();
    });
    body.once('error', () => {
      res.destroy();
      finish();
    });
  });
}

/** Answers a failed call: the upstream's own error response as it was, or the gateway's problem. */
export function relayFailure(
  res: ServerResponse,
  error: unknown,
  service: string,
  requestId: string,
  view: Record<string, string>,
): void {
  if (res.headersSent || res.destroyed) return;
  const answer = upstreamAnswer(error);
  if (answer !== undefined) {
    const body = Buffer.from(answer.body, 'utf8');
    const headers = endToEnd(answer.headers, setOnResponse);
    delete headers['content-length'];
    res.writeHead(answer.status, {
      ...headers,
      'content-length': body.length,
      'x-request-id': requestId,
      ...view,
    });
    res.end(body);
    return;
  }
  writeKit(res, problemKit(upstreamProblem(error, service), requestId), {
    'x-request-id': requestId,
    ...view,
  });
}
