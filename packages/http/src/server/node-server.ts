import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import {
  type Clock,
  checkFunction,
  checkInteger,
  checkString,
  InvalidArgumentError,
  systemClock,
} from '@meshkit/core';
import type { Registry } from '@meshkit/discovery';
import { type HandleConfig, handle, type KitHandler } from './handle.ts';
import { checkReadinessChecks, type ReadinessCheck } from './health.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { type InstanceOptions, Lifecycle, type ShutdownOptions } from './lifecycle.ts';
import { problemResponse } from './problem.ts';
import { encodeResponse } from './respond.ts';

/** Size limits on what a client may send. */
export interface ServerLimits {
  /** Largest request body, in bytes; more is refused with 413. Defaults to 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Largest header block, in bytes; more is refused with 431. Defaults to 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** Most headers read per request; the rest are ignored. Defaults to 100. */
  readonly maxHeadersCount?: number;
  /** How long a client may take to send a whole request, in ms. Defaults to 30,000. */
  readonly requestTimeoutMs?: number;
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
 * and RFC 9457 problem responses.
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
  const maxHeadersCount = checkInteger('httpServer.limits.maxHeadersCount', limits.maxHeadersCount ?? 100, 1);
  const requestTimeout = checkInteger(
    'httpServer.limits.requestTimeoutMs',
    limits.requestTimeoutMs ?? 30_000,
    1,
  );
  const methods = options.idempotency?.methods ?? ['POST', 'PATCH'];
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
  const config: HandleConfig = {
    handler,
    lifecycle,
    clock,
    maxBodyBytes,
    checks: checkReadinessChecks(options.checks, 'httpServer.checks'),
    checkTimeoutMs: checkInteger('httpServer.checkTimeoutMs', options.checkTimeoutMs ?? 2_000, 1),
    idempotencyStore: options.idempotency?.store,
    idempotentMethods: new Set(methods.map((m) => m.toUpperCase())),
  };

  const serverOptions = { maxHeaderSize: maxHeaderBytes, requestTimeout };
  const listener = (req: Parameters<typeof handle>[1], res: Parameters<typeof handle>[2]): void => {
    void handle(config, req, res);
  };
  let server: Server;
  if (options.tls === undefined) server = createHttpServer(serverOptions, listener);
  else {
    const { cert, key, ca, requestCert = false } = options.tls;
    if (cert === undefined || key === undefined) {
      throw new InvalidArgumentError('httpServer.tls', 'needs both cert and key');
    }
    server = createHttpsServer(
      {
        ...serverOptions,
        cert,
        key,
        ...(ca === undefined ? {} : { ca }),
        requestCert,
        rejectUnauthorized: requestCert,
      },
      listener,
    ) as unknown as Server;
  }
  server.maxHeadersCount = maxHeadersCount;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // Malformed requests never reach the handler; answer with a problem document instead of a bare 400.
    if (!socket.writable || (error.code === 'ECONNRESET' && socket.destroyed)) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const encoded = encodeResponse(
      problemResponse({
        status: tooLarge ? 431 : 400,
        title: tooLarge ? 'request headers too large' : 'malformed request',
        field: 'headers',
      }),
    );
    socket.end(
      `HTTP/1.1 ${encoded.status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `content-type: application/problem+json\r\ncontent-length: ${encoded.body.length}\r\n` +
        `connection: close\r\n\r\n${encoded.body.toString('utf8')}`,
    );
  });
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
