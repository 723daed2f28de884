/**
 * One proxied exchange: the public request becomes an upstream call through the mount's client
 * pipeline, and the upstream's answer streams back, both ways under size limits.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type CallContext,
  contextKey,
  ErrorCode,
  isAbortError,
  MeshError,
  type Service,
} from '@meshkit/core';
import {
  type HttpCall,
  type HttpCallService,
  type HttpMethod,
  HttpProblem,
  type HttpReply,
  type HttpRequest,
  type HttpResponse,
  idempotentMethods,
} from '@meshkit/http';
import { byteLimit } from './body-limit.ts';
import { endToEnd } from './hop-by-hop.ts';
import type { GatewayMount } from './options.ts';
import { drop, relayBody, relayFailure, routingView, setOnResponse } from './relay.ts';
import { problemKit, writeKit } from './respond.ts';
import type { EdgeIdentity } from './trace.ts';
import { type UpstreamRecord, upstreamRecord } from './upstream.ts';
import { matchMount, requestHeaders } from './upstream-request.ts';

/** The node:http exchange behind a call, for the step that writes the streamed answer itself. */
export interface EdgeExchange {
  readonly raw: IncomingMessage;
  readonly res: ServerResponse;
  readonly identity: EdgeIdentity;
}

/** The context slot holding the call's {@link EdgeExchange}. */
export const edgeExchange = contextKey<EdgeExchange>('meshkit.gateway.exchange');

/** A public prefix and the pipeline to its service. */
export interface MountedService {
  readonly mount: GatewayMount;
  readonly service: Service<HttpRequest, HttpResponse>;
}

/** What {@link proxyService} needs. */
export interface ProxySettings {
  readonly mounts: readonly MountedService[];
  readonly maxRequestBodyBytes: number;
  readonly maxResponseBodyBytes: number;
  readonly exposeRouting: boolean;
}

/** TRACE is left out: at a public edge it echoes credentials back (cross-site tracing). */
const proxiedMethods: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
]);

/** What a proxied call answers with once it wrote the response itself. */
const streamedReply: HttpReply = { status: 200, headers: {}, body: Buffer.alloc(0), streamed: true };

/**
 * The innermost service of the gateway: routes the call to its mount's pipeline and writes the answer
 * (the upstream's, streamed; or a problem for a failure the gateway saw). Throws an `HttpProblem` for a
 * request it refuses before calling anything (no mount, a method it does not relay, a body too large).
 */
export function proxyService(settings: ProxySettings): HttpCallService {
  const { maxRequestBodyBytes, maxResponseBodyBytes, exposeRouting } = settings;
  return async (call: HttpCall, ctx: CallContext): Promise<HttpReply> => {
    const exchange = ctx.get(edgeExchange);
    if (exchange === undefined)
      throw new MeshError(ErrorCode.INVALID_ARGUMENT, 'no edge exchange in the context');
    const { raw, res, identity } = exchange;
    const matched = matchMount(settings.mounts, call.target);
    if (matched === undefined) {
      throw new HttpProblem({ status: 404, title: 'not found', detail: `no route for ${call.path}` });
    }
    if (!proxiedMethods.has(call.method)) {
      throw new HttpProblem(
        { status: 405, title: 'method not allowed', detail: `${call.method} is not relayed` },
        { allow: [...proxiedMethods].join(', ') },
      );
    }
    const declared = raw.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxRequestBodyBytes) {
      throw tooLarge(maxRequestBodyBytes);
    }
    const hasBody =
      declared !== undefined ? Number(declared) > 0 : raw.headers['transfer-encoding'] !== undefined;
    const upload = hasBody ? byteLimit(maxRequestBodyBytes) : undefined;
    if (upload !== undefined) {
      raw.pipe(upload);
      // An upload past the limit stops feeding the upstream call; the rest is discarded after the 413.
      upload.once('error', () => raw.unpipe(upload));
    }

    const method = call.method as HttpMethod;
    const record: UpstreamRecord = { subset: undefined, endpoint: undefined, attempts: 0 };
    const idempotent = idempotentMethods.has(method);
    const key = raw.headers['idempotency-key'];
    let callCtx = ctx.set(upstreamRecord, record);
    callCtx =
      upload !== undefined
        ? // A streamed body can be sent once: it is retried only when refused before anything was sent.
          callCtx.with({
            idempotent,
            idempotencyKey: typeof key === 'string' ? key : undefined,
            kind: 'client-stream',
          })
        : callCtx.with({ idempotent, idempotencyKey: typeof key === 'string' ? key : undefined });
    const request: HttpRequest = {
      method,
      path: matched.upstreamPath,
      headers: requestHeaders(raw),
      body: upload,
    };

    let response: HttpResponse;
    try {
      response = await matched.mounted.service(request, callCtx);
    } catch (error) {
      if (upload?.exceeded === true) throw tooLarge(maxRequestBodyBytes);
      // The client went away: there is no one to answer.
      if (isAbortError(error) && raw.destroyed) return streamedReply;
      relayFailure(
        res,
        error,
        matched.mounted.mount.service,
        identity.requestId,
        routingView(record, exposeRouting),
      );
      return streamedReply;
    }
    const body = response.body!;
    const length = response.headers['content-length'];
    if (typeof length === 'string' && Number(length) > maxResponseBodyBytes) {
      drop(body);
      writeKit(
        res,
        problemKit(
          {
            status: 502,
            title: 'bad gateway',
            detail: `the upstream response exceeds ${maxResponseBodyBytes} bytes`,
          },
          identity.requestId,
        ),
        { 'x-request-id': identity.requestId, ...routingView(record, exposeRouting) },
      );
      return streamedReply;
    }
    if (res.destroyed) {
      drop(body);
      return streamedReply;
    }
    res.writeHead(response.status, {
      ...endToEnd(response.headers, setOnResponse),
      'x-request-id': identity.requestId,
      ...routingView(record, exposeRouting),
    });
    await relayBody(body, res, maxResponseBodyBytes);
    return streamedReply;
  };
}

function tooLarge(limitBytes: number): HttpProblem {
  return new HttpProblem({
    status: 413,
    title: 'request body too large',
    detail: `the limit is ${limitBytes} bytes`,
    field: 'body',
  });
}
