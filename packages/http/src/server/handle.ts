import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CallContext, type Clock, createContext, ErrorCode } from '@meshkit/core';
import { propagatedHeaders, readDeadline, wireHeaders } from '../wire.ts';
import { type ReadinessCheck, runReadiness } from './health.ts';
import { type IdempotencyStore, requestFingerprint, type StoredResponse } from './idempotency.ts';
import type { Lifecycle } from './lifecycle.ts';
import { errorResponse, HttpProblem, type KitResponse, problemResponse, refusal } from './problem.ts';
import { readBody, type ServerRequest, serverRequest } from './request.ts';
import { encodeResponse, writeResponse } from './respond.ts';

/** A kit handler: the request with its body read, and a context carrying the caller's deadline. */
export type KitHandler = (req: ServerRequest, ctx: CallContext) => KitResponse | Promise<KitResponse>;

/** Everything one request needs, validated once by the adapter. */
export interface HandleConfig {
  readonly handler: KitHandler;
  readonly lifecycle: Lifecycle;
  readonly clock: Clock;
  readonly maxBodyBytes: number;
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
  readonly checkTimeoutMs: number;
  readonly idempotencyStore: IdempotencyStore | undefined;
  readonly idempotentMethods: ReadonlySet<string>;
}

/**
 * Serves one request: health endpoints, refusal while draining, the incoming deadline (expired work is
 * refused at once with 504), the body limit, idempotency-key replay, the handler, and errors as
 * `application/problem+json` without internals.
 */
export async function handle(config: HandleConfig, raw: IncomingMessage, res: ServerResponse): Promise<void> {
  const { lifecycle } = config;
  const requestId = headerValue(raw, wireHeaders.requestId) ?? randomUUID();
  const extra: Record<string, string> = { [wireHeaders.requestId]: requestId };
  const path = (raw.url ?? '/').split('?', 1)[0];
  if (raw.method === 'GET' && path === '/healthz') {
    writeResponse(res, encodeResponse({ body: { status: 'ok' } }), extra);
    return;
  }
  if (raw.method === 'GET' && path === '/readyz') {
    const report = await runReadiness(config.checks, config.checkTimeoutMs, config.clock);
    const ready = report.ready && !lifecycle.draining;
    const body = {
      status: ready ? 'ready' : lifecycle.draining ? 'draining' : 'not ready',
      checks: report.checks,
    };
    writeResponse(res, encodeResponse({ status: ready ? 200 : 503, body }), extra);
    return;
  }
  // Health endpoints keep answering while draining (live, not ready); everything else is refused.
  if (lifecycle.draining) {
    // Refused before any work: safe for the caller to retry elsewhere, whatever the method.
    extra.connection = 'close';
    const refused = refusal(
      { status: 503, title: 'shutting down', code: ErrorCode.CLOSED },
      { 'retry-after': '1' },
    );
    writeResponse(res, encodeResponse(refused), extra);
    raw.resume();
    return;
  }

  const deadline = readDeadline(raw.headers, config.clock);
  if (deadline === null) {
    const bad = problemResponse({
      status: 400,
      title: 'invalid deadline header',
      detail: `${wireHeaders.timeout} must be a whole number of milliseconds`,
      field: `header:${wireHeaders.timeout}`,
    });
    writeResponse(res, encodeResponse(bad), { ...extra, connection: 'close' });
    raw.resume();
    return;
  }
  if (deadline !== undefined && deadline <= config.clock.now()) {
    const expired = refusal({ status: 504, title: 'deadline exceeded', code: ErrorCode.DEADLINE_EXCEEDED });
    writeResponse(res, encodeResponse(expired), { ...extra, connection: 'close' });
    raw.resume();
    return;
  }

  lifecycle.begin();
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new Error('the client closed the connection'));
  });
  try {
    const metadata: Record<string, string> = { [wireHeaders.requestId]: requestId };
    for (const name of propagatedHeaders) {
      const value = headerValue(raw, name);
      if (value !== undefined && name !== wireHeaders.requestId) metadata[name] = value;
    }
    const ctx = createContext({ clock: config.clock, deadline, signal: abort.signal, metadata });
    let response: StoredResponse;
    try {
      response = await respond(config, raw, ctx);
    } catch (error) {
      response = encodeResponse(errorResponse(error)); // e.g. the idempotency store failed
    }
    if (lifecycle.draining) extra.connection = 'close';
    writeResponse(res, response, extra);
  } finally {
    lifecycle.end();
  }
}

async function respond(
  config: HandleConfig,
  raw: IncomingMessage,
  ctx: CallContext,
): Promise<StoredResponse> {
  let body: Buffer;
  try {
    body = await readBody(raw, config.maxBodyBytes);
  } catch (error) {
    if (!(error instanceof HttpProblem)) raw.destroy();
    return encodeResponse(errorResponse(error));
  }
  const req = serverRequest(raw, body);
  const key = headerValue(raw, wireHeaders.idempotencyKey);
  const store = config.idempotencyStore;
  if (store === undefined || key === undefined || !config.idempotentMethods.has(req.method)) {
    return encodeResponse(await run(config.handler, req, ctx));
  }
  if (key.length === 0 || key.length > 255) {
    return encodeResponse(
      problemResponse({
        status: 400,
        title: 'invalid idempotency key',
        detail: 'Idempotency-Key must have 1 to 255 characters',
        field: 'header:idempotency-key',
      }),
    );
  }
  const fingerprint = requestFingerprint(req.method, raw.url ?? '/', body);
  const claim = await store.claim(key, fingerprint);
  if (claim.kind === 'replay') {
    return { ...claim.response, headers: { ...claim.response.headers, [wireHeaders.replayed]: 'true' } };
  }
  if (claim.kind === 'mismatch') {
    return encodeResponse(
      problemResponse({
        status: 409,
        title: 'idempotency key reused',
        detail: 'this Idempotency-Key was used for a different request',
        field: 'header:idempotency-key',
      }),
    );
  }
  if (claim.kind === 'in-progress') {
    // Refused before work; a retry after a moment gets the stored response.
    return encodeResponse(
      refusal(
        {
          status: 409,
          title: 'request in progress',
          detail: 'a request with this Idempotency-Key is running',
        },
        { 'retry-after': '1' },
      ),
    );
  }
  let response: StoredResponse;
  try {
    response = encodeResponse(await run(config.handler, req, ctx));
  } catch (error) {
    await store.release(key);
    throw error;
  }
  // Server failures are not remembered: the work may not have happened, so a retry must run it again.
  if (response.status >= 500) await store.release(key);
  else await store.complete(key, fingerprint, response);
  return response;
}

async function run(handler: KitHandler, req: ServerRequest, ctx: CallContext): Promise<KitResponse> {
  try {
    return await handler(req, ctx);
  } catch (error) {
    return errorResponse(error);
  }
}

function headerValue(raw: IncomingMessage, name: string): string | undefined {
  const value = raw.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
