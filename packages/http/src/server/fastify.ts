import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  type CallContext,
  type Clock,
  checkInteger,
  checkString,
  createContext,
  ErrorCode,
  InvalidArgumentError,
  systemClock,
} from '@meshkit/core';
import type { Registry } from '@meshkit/discovery';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { propagatedHeaders, readDeadline, wireHeaders } from '../wire.ts';
import { checkReadinessChecks, type ReadinessCheck, runReadiness } from './health.ts';
import { type IdempotencyStore, requestFingerprint } from './idempotency.ts';
import { type InstanceOptions, Lifecycle, type ShutdownOptions } from './lifecycle.ts';
import { errorResponse, HttpProblem, type KitResponse, problemResponse, refusal } from './problem.ts';
import { encodeResponse } from './respond.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The call context: the caller's deadline, trace headers and cancellation; pass it to downstream calls. */
    meshkit: CallContext;
  }
}

/** Options of {@link meshkitFastify}. Body and header limits are Fastify's own (`bodyLimit`, `maxHeaderSize`). */
export interface MeshkitFastifyOptions {
  /** The service name this instance registers under. */
  readonly service: string;
  /** Registers the instance when Fastify listens, deregisters first on shutdown. */
  readonly registry?: Registry;
  readonly instance?: InstanceOptions;
  /** Readiness checks run by `/readyz`, by name. */
  readonly checks?: Readonly<Record<string, ReadinessCheck>>;
  /** Bound on each readiness check, in ms. Defaults to 2,000. */
  readonly checkTimeoutMs?: number;
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

const healthPaths = new Set(['/healthz', '/readyz']);
const claims = new WeakMap<FastifyRequest, { key: string; fingerprint: string; settled: boolean }>();

/**
 * A Fastify plugin with the service-side kit: `/healthz` and `/readyz`, registration when Fastify
 * listens, the ordered shutdown on SIGTERM/SIGINT (deregister, refuse new work, drain, then
 * `fastify.close()`), the incoming deadline as `request.meshkit` (expired work refused at once with 504),
 * idempotency-key replay, and errors as RFC 9457 problems (validation failures name the field; no
 * stack traces). Registered without encapsulation, so its hooks cover every route.
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
  const checks = checkReadinessChecks(options.checks, 'meshkitFastify.checks');
  const checkTimeoutMs = checkInteger('meshkitFastify.checkTimeoutMs', options.checkTimeoutMs ?? 2_000, 1);
  const store = options.idempotency?.store;
  if (options.idempotency !== undefined && typeof store?.claim !== 'function') {
    throw new InvalidArgumentError('meshkitFastify.idempotency.store', 'must be an IdempotencyStore');
  }
  const methods = new Set((options.idempotency?.methods ?? ['POST', 'PATCH']).map((m) => m.toUpperCase()));
  const lifecycle = new Lifecycle(
    service,
    options.registry,
    options.instance ?? {},
    options.shutdown ?? {},
    clock,
  );
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

  fastify.get('/healthz', async () => ({ status: 'ok' }));
  fastify.get('/readyz', async (_request, reply) => {
    const report = await runReadiness(checks, checkTimeoutMs, clock);
    const ready = report.ready && !lifecycle.draining;
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ready' : lifecycle.draining ? 'draining' : 'not ready', checks: report.checks };
  });

  fastify.addHook('onRequest', async (request, reply) => {
    const requestId = header(request, wireHeaders.requestId) ?? randomUUID();
    reply.header(wireHeaders.requestId, requestId);
    if (healthPaths.has(request.url.split('?', 1)[0]!)) return;
    if (lifecycle.draining) {
      reply.header('connection', 'close');
      return send(
        reply,
        refusal({ status: 503, title: 'shutting down', code: ErrorCode.CLOSED }, { 'retry-after': '1' }),
      );
    }
    const deadline = readDeadline(request.headers, clock);
    if (deadline === null) {
      return send(
        reply,
        problemResponse({
          status: 400,
          title: 'invalid deadline header',
          detail: `${wireHeaders.timeout} must be a whole number of milliseconds`,
          field: `header:${wireHeaders.timeout}`,
        }),
      );
    }
    if (deadline !== undefined && deadline <= clock.now()) {
      return send(
        reply,
        refusal({ status: 504, title: 'deadline exceeded', code: ErrorCode.DEADLINE_EXCEEDED }),
      );
    }
    lifecycle.begin();
    const abort = new AbortController();
    reply.raw.once('close', () => {
      lifecycle.end();
      if (!reply.raw.writableFinished) abort.abort(new Error('the client closed the connection'));
      const claim = claims.get(request);
      if (claim !== undefined && !claim.settled && store !== undefined) void store.release(claim.key);
    });
    const metadata: Record<string, string> = { [wireHeaders.requestId]: requestId };
    for (const name of propagatedHeaders) {
      const value = header(request, name);
      if (value !== undefined && name !== wireHeaders.requestId) metadata[name] = value;
    }
    request.meshkit = createContext({ clock, deadline, signal: abort.signal, metadata });
  });

  if (store !== undefined) {
    fastify.addHook('preHandler', async (request, reply) => {
      const key = header(request, wireHeaders.idempotencyKey);
      if (key === undefined || !methods.has(request.method)) return;
      if (key.length === 0 || key.length > 255) {
        return send(
          reply,
          problemResponse({
            status: 400,
            title: 'invalid idempotency key',
            detail: 'Idempotency-Key must have 1 to 255 characters',
            field: 'header:idempotency-key',
          }),
        );
      }
      const body = typeof request.body === 'string' ? request.body : JSON.stringify(request.body ?? null);
      const fingerprint = requestFingerprint(request.method, request.url, body);
      const claim = await store.claim(key, fingerprint);
      if (claim.kind === 'new') {
        claims.set(request, { key, fingerprint, settled: false });
        return;
      }
      if (claim.kind === 'replay') {
        const { status, headers, body: stored } = claim.response;
        const { 'content-length': _length, ...rest } = headers;
        return reply
          .code(status)
          .headers({ ...rest, [wireHeaders.replayed]: 'true' })
          .send(stored);
      }
      if (claim.kind === 'mismatch') {
        return send(
          reply,
          problemResponse({
            status: 409,
            title: 'idempotency key reused',
            detail: 'this Idempotency-Key was used for a different request',
            field: 'header:idempotency-key',
          }),
        );
      }
      return send(
        reply,
        refusal(
          {
            status: 409,
            title: 'request in progress',
            detail: 'a request with this Idempotency-Key is running',
          },
          { 'retry-after': '1' },
        ),
      );
    });

    fastify.addHook('onSend', async (request, reply, payload) => {
      const claim = claims.get(request);
      if (claim === undefined || claim.settled) return payload;
      claim.settled = true;
      const status = reply.statusCode;
      // Server failures and streamed bodies are not remembered: a retry runs the work again.
      if (status >= 500 || !(typeof payload === 'string' || Buffer.isBuffer(payload))) {
        await store.release(claim.key);
        return payload;
      }
      const type = reply.getHeader('content-type');
      await store.complete(claim.key, claim.fingerprint, {
        status,
        headers: type === undefined ? {} : { 'content-type': String(type) },
        body: Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8'),
      });
      return payload;
    });
  }

  fastify.setErrorHandler((error: FastifyError, _request, reply) => send(reply, fastifyProblem(error)));

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

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
