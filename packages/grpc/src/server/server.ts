import { once } from 'node:events';
import {
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { DescService } from '@bufbuild/protobuf';
import { type Clock, ErrorCode, InvalidArgumentError, MeshError, systemClock } from '@meshkit/core';
import { checkNumber } from '@meshkit/core/internal';
import { advertisedAddress, type Registration, type Registry } from '@meshkit/discovery';
import { Health } from '../gen/grpc/health/v1/health_pb.ts';
import { ServerReflection as ServerReflectionV1 } from '../gen/grpc/reflection/v1/reflection_pb.ts';
import { ServerReflection as ServerReflectionV1Alpha } from '../gen/grpc/reflection/v1alpha/reflection_pb.ts';
import { type CallSettings, type Route, ServerCallState } from './call.ts';
import { HealthStatus } from './health.ts';
import { reflectionImpl } from './reflection.ts';
import type { ServiceImpl } from './types.ts';

/** TLS for a server: its certificate, and optionally mutual TLS. PEM strings or buffers. */
export interface GrpcServerTlsOptions {
  /** The server's private key. */
  readonly key: string | Buffer;
  /** The server's certificate chain. */
  readonly cert: string | Buffer;
  /** Certificate authorities that sign client certificates (for mutual TLS). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /**
   * Require a client certificate signed by `ca` and refuse the connection without one (mutual TLS).
   * Defaults to `false`.
   */
  readonly requireClientCert?: boolean;
}

/** Where and as what a server registers itself, so clients discover it. */
export interface GrpcRegistrationOptions {
  /** The registry to register in on `listen()` and deregister from on `close()`. */
  readonly registry: Registry;
  /** The service name clients look up, e.g. `user-service`. */
  readonly service: string;
  /** The instance id. Defaults to `<service>-<address>-<port>`. */
  readonly id?: string;
  /**
   * The address clients connect to. Defaults to the host the server listens on; for `0.0.0.0` / `::`,
   * the first non-internal IPv4 address of this machine, else `127.0.0.1` (see `advertisedAddress` in
   * `@meshkit/discovery`).
   */
  readonly address?: string;
  /** The deployed version, also the `version` label clients route subsets by (`v1`, `v2`). */
  readonly version?: string;
  /** Free-form labels (`zone=a`). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Relative weight for weighted balancing. Defaults to 1. */
  readonly weight?: number;
  /**
   * On `close()`, how long to keep serving after deregistering, in ms, so clients watching the registry
   * stop choosing this instance before it refuses anything. Defaults to 1,000.
   */
  readonly deregisterGraceMs?: number;
}

/** Options of {@link grpcServer}. */
export interface GrpcServerOptions {
  /** Register in a registry (protocol `grpc`, health checked with `grpc.health.v1`). */
  readonly registration?: GrpcRegistrationOptions;
  /** Serve over TLS (HTTP/2 with ALPN `h2`); without it, cleartext HTTP/2 (h2c). */
  readonly tls?: GrpcServerTlsOptions;
  /** Largest request message accepted, in bytes; larger ones get `RESOURCE_EXHAUSTED`. Defaults to 4 MiB. */
  readonly maxReceiveMessageBytes?: number;
  /** Largest response message sent, in bytes; larger ones end the call with `RESOURCE_EXHAUSTED`. Defaults to 4 MiB. */
  readonly maxSendMessageBytes?: number;
  /**
   * On {@link GrpcServer.close}, how long in-flight calls may run before they are cancelled (ended with
   * `UNAVAILABLE`), in ms. Defaults to 10,000.
   */
  readonly shutdownGraceMs?: number;
  /** Serve `grpc.health.v1.Health` (Check, Watch, List). Defaults to `true`. */
  readonly health?: boolean;
  /**
   * Serve server reflection (`grpc.reflection.v1` and `v1alpha`), so `grpcurl`-style tools list the
   * services and fetch their `.proto` files. Defaults to `false`: it exposes the API's schema.
   */
  readonly reflection?: boolean;
  /** The clock for deadlines. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** Where a server listens. */
export interface GrpcServerAddress {
  readonly host: string;
  readonly port: number;
  /** `host:port`, ready for a client's endpoint list. */
  readonly address: string;
}

/** A gRPC server over `node:http2`. */
export interface GrpcServer {
  /** Serves `impl` for the generated service `service`. Call before {@link GrpcServer.listen}. */
  add<S extends DescService>(service: S, impl: ServiceImpl<S>): GrpcServer;
  /** Starts listening. Defaults: port 0 (any free port), host `127.0.0.1`. */
  listen(options?: { readonly port?: number; readonly host?: string }): Promise<GrpcServerAddress>;
  /** The health statuses reported by `grpc.health.v1.Health`. */
  readonly health: HealthStatus;
  /** Calls running now. */
  readonly inFlight: number;
  /**
   * Graceful shutdown: reports `NOT_SERVING` and deregisters (then keeps serving for
   * `deregisterGraceMs`), stops accepting connections, sends GOAWAY so clients open no new streams here,
   * lets in-flight calls finish within `shutdownGraceMs`, then ends the rest with `UNAVAILABLE` and
   * closes every connection.
   */
  close(): Promise<void>;
}

const defaultMaxMessageBytes = 4 * 1024 * 1024;

/**
 * A gRPC server over `node:http2`: generated service implementations, deadlines from `grpc-timeout`,
 * status codes, metadata and trailers, server streaming with flow control, `grpc.health.v1`, TLS and
 * mutual TLS, graceful shutdown.
 *
 * @example
 * ```ts
 * declare const users: ServiceImpl<typeof UserService>;
 *
 * const server = grpcServer().add(UserService, users);
 * const { address } = await server.listen({ port: 50051 });
 * process.on('SIGTERM', () => server.close());
 * ```
 */
export function grpcServer(options: GrpcServerOptions = {}): GrpcServer {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('grpcServer', 'options must be an object', options);
  }
  const clock = options.clock ?? systemClock;
  const graceMs = checkNumber('grpcServer.shutdownGraceMs', options.shutdownGraceMs ?? 10_000, 0);
  const routes = new Map<string, Route>();
  const served: DescService[] = [];
  const calls = new Set<ServerCallState>();
  const sessions = new Set<Http2Session>();
  const health = new HealthStatus();
  let idle: (() => void) | undefined;
  const settings: CallSettings = {
    service: options.registration?.service ?? '',
    clock,
    maxReceiveMessageBytes: checkNumber(
      'grpcServer.maxReceiveMessageBytes',
      options.maxReceiveMessageBytes ?? defaultMaxMessageBytes,
      0,
    ),
    maxSendMessageBytes: checkNumber(
      'grpcServer.maxSendMessageBytes',
      options.maxSendMessageBytes ?? defaultMaxMessageBytes,
      0,
    ),
    onDone: (call) => {
      calls.delete(call);
      if (calls.size === 0) idle?.();
    },
  };
  const idleWithin = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const timer = clock.setTimeout(resolve, ms);
      idle = () => {
        clock.clearTimeout(timer);
        resolve();
      };
    });
  const http2 = createHttp2Server(options.tls);
  let listening = false;
  let closing: Promise<void> | undefined;
  const registrationOptions = options.registration;
  const deregisterGraceMs = checkNumber(
    'grpcServer.registration.deregisterGraceMs',
    registrationOptions?.deregisterGraceMs ?? 1_000,
    0,
  );
  let registration: Registration | undefined;

  http2.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {});
    if (closing !== undefined) session.close();
  });
  http2.on('stream', (stream, headers) => {
    const call = new ServerCallState(stream, headers, settings);
    calls.add(call);
    call.run(headers, routes.get(String(headers[':path'])));
  });
  // A TLS handshake refused (no or foreign client certificate) is the client's problem, not a crash.
  http2.on('tlsClientError', () => {});

  const add = <S extends DescService>(service: S, impl: ServiceImpl<S>): GrpcServer => {
    if (listening) throw new InvalidArgumentError('grpcServer.add', 'must be called before listen()');
    for (const method of service.methods) {
      const handler = (impl as Record<string, unknown>)[method.localName];
      const path = `/${service.typeName}/${method.name}`;
      if (handler === undefined) continue;
      if (typeof handler !== 'function') {
        throw new InvalidArgumentError(
          `${service.typeName}.${method.localName}`,
          'must be a function',
          handler,
        );
      }
      routes.set(path, { method, handler: handler.bind(impl) as Route['handler'] });
    }
    served.push(service);
    health.set(service.typeName, 'NOT_SERVING');
    return server;
  };

  const server: GrpcServer = {
    add,
    health,
    get inFlight() {
      return calls.size;
    },
    async listen(listenOptions = {}) {
      if (closing !== undefined) throw new MeshError(ErrorCode.CLOSED, 'the server was closed');
      if (options.health !== false && !routes.has(`/${Health.typeName}/Check`)) {
        add(Health, { check: health.check, watch: health.watch, list: health.list });
      }
      if (
        options.reflection === true &&
        !routes.has(`/${ServerReflectionV1.typeName}/ServerReflectionInfo`)
      ) {
        const reflection = reflectionImpl(() => served);
        add(ServerReflectionV1, reflection.v1);
        add(ServerReflectionV1Alpha, reflection.v1alpha);
      }
      listening = true;
      const host = listenOptions.host ?? '127.0.0.1';
      http2.listen(checkNumber('listen.port', listenOptions.port ?? 0, 0), host);
      await once(http2, 'listening');
      health.setAll('SERVING');
      const port = (http2.address() as AddressInfo).port;
      if (registrationOptions !== undefined) {
        const r = registrationOptions;
        // Never `0.0.0.0`: a wildcard listening host registers a routable address (see advertisedAddress).
        const address = r.address ?? advertisedAddress(host);
        registration = await r.registry.register({
          id: r.id ?? `${r.service}-${address}-${port}`,
          service: r.service,
          address,
          port,
          protocols: ['grpc'],
          check: { type: 'grpc', service: '' },
          ...(r.version === undefined ? {} : { version: r.version }),
          ...(r.labels === undefined ? {} : { labels: r.labels }),
          ...(r.weight === undefined ? {} : { weight: r.weight }),
        });
      }
      return { host, port, address: `${host.includes(':') ? `[${host}]` : host}:${port}` };
    },
    close() {
      closing ??= (async () => {
        health.setAll('NOT_SERVING');
        if (registration !== undefined) {
          await registration.deregister();
          await new Promise<void>((resolve) => clock.setTimeout(resolve, deregisterGraceMs));
        }
        const stopped = listening ? new Promise<void>((resolve) => http2.close(() => resolve())) : undefined;
        for (const session of sessions) session.close();
        if (calls.size > 0) await idleWithin(graceMs);
        if (calls.size > 0) {
          for (const call of [...calls]) call.abandon();
          // The statuses go out; a client that does not read them within the bound is cut off.
          await idleWithin(Math.min(graceMs, 1_000));
        }
        for (const session of sessions) session.destroy();
        await stopped;
      })();
      return closing;
    },
  };
  return server;
}

function createHttp2Server(tls: GrpcServerTlsOptions | undefined): Http2Server | Http2SecureServer {
  if (tls === undefined) return createServer();
  if (typeof tls !== 'object' || tls === null || tls.key === undefined || tls.cert === undefined) {
    throw new InvalidArgumentError('grpcServer.tls', 'must give key and cert', tls);
  }
  if (tls.requireClientCert === true && tls.ca === undefined) {
    throw new InvalidArgumentError('grpcServer.tls.ca', 'is required with requireClientCert');
  }
  return createSecureServer({
    key: tls.key,
    cert: tls.cert,
    ...(tls.ca === undefined ? {} : { ca: tls.ca as string | Buffer | (string | Buffer)[] }),
    requestCert: tls.requireClientCert === true,
    rejectUnauthorized: tls.requireClientCert === true,
    ALPNProtocols: ['h2'],
  });
}
