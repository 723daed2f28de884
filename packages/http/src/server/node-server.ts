import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type CallContext, type Clock, InvalidArgumentError, systemClock } from '@meshkit/core';
import { checkFunction, checkInteger, checkString } from '@meshkit/core/internal';
import type { Registry } from '@meshkit/discovery';
import { wireHeaders } from '../wire.ts';
import type { HttpCallService, HttpReply } from './call.ts';
import { answerClientError } from './client-error.ts';
import {
  applyConnectionLimits,
  type ConnectionLimitOptions,
  checkConnectionLimits,
} from './connection-limits.ts';
import { checkReadinessChecks, type ReadinessCheck } from './health.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { type InstanceOptions, Lifecycle, type ShutdownOptions } from './lifecycle.ts';
import { errorResponse, type KitResponse } from './problem.ts';
import { nodeHttpCall, type ServerRequest, serverRequest } from './request.ts';
import { requestContext } from './request-context.ts';
import { encodeResponse, writeResponse } from './respond.ts';
import { checkServerLayers, type ServerLayer, serverStack } from './server-stack.ts';
import { discardUpload, uploadPending } from './unread-upload.ts';

/** A kit handler: the request with its body read, and a context carrying the caller's deadline. */
export type KitHandler = (req: ServerRequest, ctx: CallContext) => KitResponse | Promise<KitResponse>;

/** Size and time limits on what a client may send. */
export interface ServerLimits extends ConnectionLimitOptions {
  /** Largest request body, in bytes; more is refused with 413. Defaults to 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Largest header block, in bytes; more is refused with 431. Defaults to 16 KiB. */
  readonly maxHeaderBytes?: number;
}

/** Server-side TLS: a certificate and key, and for mutual TLS the CA that client certificates must chain to. */
export interface ServerTlsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** CA for client certificates; with `requestCert`, clients without a valid certificate are refused. */
  readonly ca?: string | Buffer;
  /** Ask for (and require) a client certificate: mutual TLS. Defaults to `false`. */
  readonly requestCert?: boolean;
}

/** Options of {@link httpServer}. */
export interface HttpServerOptions {
  /** The service name this instance registers under. */
  readonly service: string;
  /** Handles every request except `/healthz` and `/readyz`. */
  readonly handler: KitHandler;
  /**
   * Your own layers, run after meshkit's steps (health, drain, deadline, idempotency) and before the
   * handler, in request order. Defaults to none.
   */
  readonly layers?: readonly ServerLayer[];
  /** Registers the instance on listen and deregisters first on shutdown. */
  readonly registry?: Registry;
  readonly instance?: InstanceOptions;
  /** Readiness checks run by `/readyz`, by name. */
  readonly checks?: Readonly<Record<string, ReadinessCheck>>;
  /** Bound on each readiness check, in ms. Defaults to 2,000. */
  readonly checkTimeoutMs?: number;
  readonly limits?: ServerLimits;
  /** Replays responses for repeated `Idempotency-Key`s. */
  readonly idempotency?: {
    readonly store: IdempotencyStore;
    /** Methods whose keys are honoured. Defaults to POST and PATCH. */
    readonly methods?: readonly string[];
  };
  readonly shutdown?: ShutdownOptions;
  readonly tls?: ServerTlsOptions;
  /** The clock deadlines are read on. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** A running (or ready to run) service instance. */
export interface MeshServer {
  readonly server: Server;
  /** Listens (port 0 picks one), registers the instance and installs the signal handlers. */
  listen(options?: {
    readonly port?: number;
    readonly host?: string;
  }): Promise<{ host: string; port: number }>;
  /** The ordered shutdown: deregister, refuse new work, stop accepting, drain, close. */
  shutdown(): Promise<void>;
  /** Requests being handled now. */
  readonly inFlight: number;
  readonly lifecycle: Lifecycle;
}

/**
 * A service instance on plain `node:http` (or `node:https`): health and readiness endpoints,
 * registration, graceful shutdown on SIGTERM/SIGINT, incoming deadlines, idempotency keys, limits,
 * and RFC 9457 problem responses. Every request goes through the same layers as with
 * {@link meshkitFastify}: health, drain, deadline, idempotency, then `layers`, around `handler`.
 *
 * @example
 * ```ts
 * import { embeddedRegistry } from '@meshkit/discovery';
 * const registry = embeddedRegistry({ path: '.meshkit/registry.db' });
 * const accounts = httpClient({ service: 'accounts', registry });
 * const server = httpServer({
 *   service: 'users',
 *   registry,
 *   handler: async (req, ctx) => ({ body: await accounts.get(`/accounts/${req.query.get('id')}`, { ctx }) }),
 *   checks: { accounts: () => accounts.get('/healthz') },
 *   idempotency: { store: memoryIdempotencyStore() },
 * });
 * await server.listen({ port: 8080, host: '0.0.0.0' });
 * ```
 */
export function httpServer(options: HttpServerOptions): MeshServer {
  const service = checkString('httpServer.service', options.service);
  const handler = checkFunction<KitHandler>('httpServer.handler', options.handler);
  const clock = options.clock ?? systemClock;
  const limits = options.limits ?? {};
  const maxBodyBytes = checkInteger('httpServer.limits.maxBodyBytes', limits.maxBodyBytes ?? 1_048_576, 0);
  const maxHeaderBytes = checkInteger(
    'httpServer.limits.maxHeaderBytes',
    limits.maxHeaderBytes ?? 16_384,
    1_024,
  );
  const connectionLimits = checkConnectionLimits('httpServer.limits', limits);
  if (options.idempotency !== undefined && typeof options.idempotency.store?.claim !== 'function') {
    throw new InvalidArgumentError('httpServer.idempotency.store', 'must be an IdempotencyStore');
  }
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
    checks: checkReadinessChecks(options.checks, 'httpServer.checks'),
    checkTimeoutMs: checkInteger('httpServer.checkTimeoutMs', options.checkTimeoutMs ?? 2_000, 1),
    idempotency: options.idempotency,
    layers: checkServerLayers('httpServer.layers', options.layers),
  }).wrap(handlerService(handler));

  const exchange: Exchange = { service, pipeline, lifecycle, clock, maxBodyBytes };
  const listener = (raw: IncomingMessage, res: ServerResponse): void => {
    void serve(exchange, raw, res);
  };
  let server: Server;
  if (options.tls === undefined) server = createHttpServer({ maxHeaderSize: maxHeaderBytes }, listener);
  else {
    const { cert, key, ca, requestCert = false } = options.tls;
    if (cert === undefined || key === undefined) {
      throw new InvalidArgumentError('httpServer.tls', 'needs both cert and key');
    }
    server = createHttpsServer(
      {
        maxHeaderSize: maxHeaderBytes,
        cert,
        key,
        ...(ca === undefined ? {} : { ca }),
        requestCert,
        rejectUnauthorized: requestCert,
      },
      listener,
    ) as unknown as Server;
  }
  applyConnectionLimits(server, connectionLimits);
  server.on('clientError', answerClientError);
  lifecycle.attach(
    () => {
      server.close();
      server.closeIdleConnections();
    },
    () => server.closeAllConnections(),
  );

  return {
    server,
    get inFlight() {
      return lifecycle.inFlight;
    },
    lifecycle,
    async listen(listenOptions = {}) {
      const host = listenOptions.host ?? '127.0.0.1';
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(listenOptions.port ?? 0, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const { port } = server.address() as AddressInfo;
      try {
        await lifecycle.started(host, port);
      } catch (error) {
        server.close();
        throw error;
      }
      return { host, port };
    },
    shutdown: () => lifecycle.shutdown(),
  };
}

/** The handler as the innermost service: reads the body, runs it, and turns what it threw into a reply. */
function handlerService(handler: KitHandler): HttpCallService {
  return async (call, ctx) => {
    const req = serverRequest(call.raw, await call.body());
    try {
      return encodeResponse(await handler(req, ctx));
    } catch (error) {
      return encodeResponse(errorResponse(error));
    }
  };
}

/** One exchange: the request through the layers, the reply (or what a layer threw) on the wire. */
interface Exchange {
  readonly service: string;
  readonly pipeline: HttpCallService;
  readonly lifecycle: Lifecycle;
  readonly clock: Clock;
  readonly maxBodyBytes: number;
}

async function serve(exchange: Exchange, raw: IncomingMessage, res: ServerResponse): Promise<void> {
  const { lifecycle } = exchange;
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new Error('the client closed the connection'));
  });
  const { requestId, ctx } = requestContext(raw.headers, exchange.clock, abort.signal, {
    service: exchange.service,
    method: raw.method ?? 'GET',
    route: undefined,
    res,
  });
  let reply: HttpReply;
  try {
    reply = await exchange.pipeline(nodeHttpCall(raw, exchange.maxBodyBytes), ctx);
  } catch (error) {
    reply = encodeResponse(errorResponse(error));
  }
  const extra: Record<string, string> = { [wireHeaders.requestId]: requestId };
  if (lifecycle.draining && !uploadPending(raw)) extra.connection = 'close';
  writeResponse(res, reply, extra);
  discardUpload(raw);
}
