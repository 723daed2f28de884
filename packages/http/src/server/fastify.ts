import type { AddressInfo } from 'node:net';
import { type CallContext, type Clock, InvalidArgumentError, systemClock } from '@meshkit/core';
import { checkInteger, checkString } from '@meshkit/core/internal';
import type { Registry } from '@meshkit/discovery';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { wireHeaders } from '../wire.ts';
import type { HttpReply } from './call.ts';
import { answerClientError } from './client-error.ts';
import {
  applyConnectionLimits,
  type ConnectionLimitOptions,
  checkConnectionLimits,
} from './connection-limits.ts';
import { FastifyExchange, fastifyHandlerService, replyOf } from './fastify-exchange.ts';
import { checkReadinessChecks, type ReadinessCheck } from './health.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { type InstanceOptions, Lifecycle, type ShutdownOptions } from './lifecycle.ts';
import { errorResponse, HttpProblem, type KitResponse, problemResponse } from './problem.ts';
import { requestContext } from './request-context.ts';
import { encodeResponse } from './respond.ts';
import { checkServerLayers, type ServerLayer, serverStack } from './server-stack.ts';
import { discardUpload, uploadPending } from './unread-upload.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The call context: the caller's deadline, trace headers and cancellation; pass it to downstream calls. */
    meshkit: CallContext;
  }
}

/**
 * Options of {@link meshkitFastify}. Body and header-size limits are Fastify's own (`bodyLimit`,
 * `maxHeaderSize`); the time and header-count limits are the plugin's, as with `httpServer`.
 */
export interface MeshkitFastifyOptions {
  /** The service name this instance registers under. */
  readonly service: string;
  /**
   * Your own layers, run after meshkit's steps (health, drain, deadline, idempotency) and before the
   * route handler, in request order. Defaults to none.
   */
  readonly layers?: readonly ServerLayer[];
  /** Registers the instance when Fastify listens, deregisters first on shutdown. */
  readonly registry?: Registry;
  readonly instance?: InstanceOptions;
  /** Readiness checks run by `/readyz`, by name. */
  readonly checks?: Readonly<Record<string, ReadinessCheck>>;
  /** Bound on each readiness check, in ms. Defaults to 2,000. */
  readonly checkTimeoutMs?: number;
  /**
   * Request time and header-count limits, set on Fastify's server. `requestTimeoutMs` defaults to
   * Fastify's own `requestTimeout` when that is set, else 30,000.
   */
  readonly limits?: ConnectionLimitOptions;
  /** Replays responses for repeated `Idempotency-Key`s. */
  readonly idempotency?: {
    readonly store: IdempotencyStore;
    /** Methods whose keys are honoured. Defaults to POST and PATCH. */
    readonly methods?: readonly string[];
  };
  readonly shutdown?: ShutdownOptions;
  /** The clock deadlines are read on. Defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * A Fastify plugin with the service-side kit: every request runs through the same layers as with
 * `httpServer` (health, drain, deadline, idempotency, then `layers`) around the route handler, so
 * `/healthz` and `/readyz`, refusal while draining, the incoming deadline as `request.meshkit` (expired
 * work refused at once with 504) and idempotency-key replay behave identically. Also: registration when
 * Fastify listens, the ordered shutdown on SIGTERM/SIGINT (deregister, refuse new work, drain, then
 * `fastify.close()`), slow clients answered 408, and every error, Fastify's own included, as an RFC 9457
 * problem (validation failures name the field; no stack traces). Registered without encapsulation, so
 * its hooks cover every route.
 *
 * @example
 * ```ts
 * import { embeddedRegistry } from '@meshkit/discovery';
 * import Fastify from 'fastify';
 * const registry = embeddedRegistry({ path: '.meshkit/registry.db' });
 * const accounts = httpClient({ service: 'accounts', registry });
 * const app = Fastify({ bodyLimit: 1_048_576 });
 * await app.register(meshkitFastify, { service: 'users', registry, checks: { accounts: () => accounts.get('/healthz') } });
 * app.get<{ Params: { id: string } }>('/users/:id', (req) =>
 *   accounts.get(`/accounts/${req.params.id}`, { ctx: req.meshkit }),
 * );
 * await app.listen({ port: 8080, host: '0.0.0.0' });
 * ```
 */
export async function meshkitFastify(
  fastify: FastifyInstance,
  options: MeshkitFastifyOptions,
): Promise<void> {
  const service = checkString('meshkitFastify.service', options?.service);
  const clock = options.clock ?? systemClock;
  if (options.idempotency !== undefined && typeof options.idempotency.store?.claim !== 'function') {
    throw new InvalidArgumentError('meshkitFastify.idempotency.store', 'must be an IdempotencyStore');
  }
  const fastifyTimeout = fastify.server.requestTimeout;
  const limits = checkConnectionLimits('meshkitFastify.limits', {
    ...(fastifyTimeout > 0 ? { requestTimeoutMs: fastifyTimeout } : {}),
    ...options.limits,
  });
  const lifecycle = new Lifecycle(
    service,
    options.registry,
    options.instance ?? {},
    options.shutdown ?? {},
    clock,
  );
  const pipeline = serverStack({
    lifecycle,
    clock,
    checks: checkReadinessChecks(options.checks, 'meshkitFastify.checks'),
    checkTimeoutMs: checkInteger('meshkitFastify.checkTimeoutMs', options.checkTimeoutMs ?? 2_000, 1),
    idempotency: options.idempotency,
    layers: checkServerLayers('meshkitFastify.layers', options.layers),
  }).wrap(fastifyHandlerService);

  applyConnectionLimits(fastify.server, limits);
  // Fastify's own answers to what the parser refused are plain JSON; these are problem documents.
  fastify.server.removeAllListeners('clientError');
  fastify.server.on('clientError', answerClientError);
  lifecycle.attach(
    () => fastify.server.closeIdleConnections(),
    () => fastify.server.closeAllConnections(),
    // A signal drains under meshkit's rules first (refusals marked as before-work), then closes Fastify.
    async () => {
      await lifecycle.shutdown();
      await fastify.close();
    },
  );
  fastify.decorate('meshkitLifecycle', lifecycle);
  fastify.decorateRequest('meshkit', undefined as unknown as CallContext);

  // Answered by the health layer; the routes make Fastify route the requests to the hooks.
  const answeredByLayer = async (): Promise<never> => {
    throw new Error('answered by the health layer');
  };
  fastify.get('/healthz', answeredByLayer);
  fastify.get('/readyz', answeredByLayer);

  const answer = (exchange: FastifyExchange, reply: FastifyReply, response: HttpReply): FastifyReply => {
    exchange.answered = true;
    if (lifecycle.draining && !uploadPending(exchange.call.raw)) reply.header('connection', 'close');
    const { 'content-length': _length, ...headers } = response.headers;
    return reply.code(response.status).headers(headers).send(response.body);
  };

  fastify.addHook('onRequest', async (request, reply) => {
    const abort = new AbortController();
    reply.raw.once('close', () => {
      const finished = reply.raw.writableFinished;
      if (!finished) abort.abort(new Error('the client closed the connection'));
      const exchange = FastifyExchange.of(request.raw);
      if (exchange === undefined) return;
      if (exchange.ctx === undefined) exchange.answeredWithoutHandler();
      // Answered without onSend (a hijacked reply): nothing to replay, and the call is over.
      else if (finished)
        exchange.handled({
          status: reply.raw.statusCode,
          headers: {},
          body: Buffer.alloc(0),
          streamed: true,
        });
    });
    const { requestId, ctx } = requestContext(request.headers, clock, abort.signal, {
      service,
      method: request.method,
      route: request.routeOptions.url,
      res: reply.raw,
    });
    reply.header(wireHeaders.requestId, requestId);
    const exchange = new FastifyExchange(request, pipeline, ctx);
    await exchange.untilBodyOrHandler();
    const early = exchange.earlyReply;
    if (early !== undefined) return answer(exchange, reply, early);
  });

  fastify.addHook('preHandler', async (request, reply) => {
    const exchange = FastifyExchange.of(request.raw);
    if (exchange === undefined || exchange.answered) return;
    await exchange.withBody(bodyBytes(request.body));
    const early = exchange.earlyReply;
    if (early !== undefined) return answer(exchange, reply, early);
    request.meshkit = exchange.ctx!;
  });

  fastify.addHook('onSend', async (request, reply, payload) => {
    // Answered while the client was still uploading (413): read a little more, then close gently, so
    // the answer is not wiped by a reset. Fastify's `connection: close` would close at once.
    if (uploadPending(request.raw)) {
      reply.removeHeader('connection');
      discardUpload(request.raw);
    }
    const exchange = FastifyExchange.of(request.raw);
    if (exchange === undefined || exchange.answered) return payload;
    if (exchange.ctx === undefined) {
      exchange.answeredWithoutHandler();
      return payload;
    }
    const handled = replyOf(reply, payload);
    if (handled.streamed === true) {
      // The call is over when the body is: shutdown waits for a stream still being sent.
      lifecycle.begin();
      reply.raw.once('close', () => lifecycle.end());
    }
    exchange.handled(handled);
    const final = await exchange.result;
    if (final === handled) return payload;
    // A layer answered differently (a user layer rewrote the reply).
    const { 'content-length': _length, ...headers } = final.headers;
    reply.code(final.status).headers(headers);
    return final.streamed === true ? payload : final.body;
  });

  fastify.setErrorHandler((error: FastifyError, _request, reply) => send(reply, fastifyProblem(error)));
  // Fastify's own 404 is plain JSON, and a path served under other methods is a 404 too: both become
  // problem documents, the second a 405 with `Allow`.
  fastify.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const allow = routeMethods.filter((method) => fastify.findRoute({ method, url: path }) !== null);
    if (allow.length > 0) {
      reply.header('allow', allow.join(', '));
      return send(
        reply,
        problemResponse({
          status: 405,
          title: 'method not allowed',
          detail: `${request.method} is not allowed on ${path}; allowed: ${allow.join(', ')}`,
        }),
      );
    }
    return send(
      reply,
      problemResponse({ status: 404, title: 'not found', detail: `no route for ${request.method} ${path}` }),
    );
  });

  fastify.addHook('onListen', async () => {
    const address = fastify.server.address() as AddressInfo | null;
    if (address !== null && typeof address === 'object')
      await lifecycle.started(address.address, address.port);
  });
  // Someone called fastify.close() directly: still deregister and drain first.
  fastify.addHook('preClose', async () => {
    await lifecycle.shutdown();
  });
}
// Registered on the root instance, not encapsulated (what fastify-plugin does).
Object.defineProperty(meshkitFastify, Symbol.for('skip-override'), { value: true });
Object.defineProperty(meshkitFastify, Symbol.for('fastify.display-name'), { value: 'meshkit' });

/** The methods a 405's `Allow` header may list. */
const routeMethods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** Maps Fastify's own errors (schema validation, body parsing, limits) to problem documents. */
function fastifyProblem(error: FastifyError): KitResponse {
  if (error instanceof HttpProblem) return errorResponse(error);
  const validation = error.validation;
  if (Array.isArray(validation) && validation.length > 0) {
    const errors = validation.map((v) => {
      const missing = (v.params as { missingProperty?: unknown } | undefined)?.missingProperty;
      const path = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
      const field =
        typeof missing === 'string' ? (path === '' ? missing : `${path}.${missing}`) : path || '(root)';
      return {
        field: `${error.validationContext ?? 'body'}.${field}`.replace(/^body\./, ''),
        message: v.message ?? 'is invalid',
      };
    });
    return problemResponse({
      status: 400,
      title: 'validation failed',
      detail: errors.map((e) => `${e.field}: ${e.message}`).join('; '),
      field: errors[0]!.field,
      errors,
    });
  }
  const status = error.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const known: Record<string, [string, string]> = {
      FST_ERR_CTP_INVALID_JSON_BODY: ['malformed JSON', 'body'],
      FST_ERR_CTP_EMPTY_JSON_BODY: ['malformed JSON', 'body'],
      FST_ERR_CTP_BODY_TOO_LARGE: ['request body too large', 'body'],
      FST_ERR_CTP_INVALID_MEDIA_TYPE: ['unsupported media type', 'header:content-type'],
      FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['invalid content-length', 'header:content-length'],
    };
    const [title, field] = known[error.code] ?? ['invalid request', undefined];
    return problemResponse({
      status,
      title,
      detail: error.message,
      ...(field === undefined ? {} : { field }),
    });
  }
  return errorResponse(error);
}

function send(reply: FastifyReply, response: KitResponse): FastifyReply {
  const encoded = encodeResponse(response);
  return reply.code(encoded.status).headers(encoded.headers).send(encoded.body);
}

/** What identifies the parsed body for idempotency: its text, or its JSON. */
function bodyBytes(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body ?? null), 'utf8');
}
