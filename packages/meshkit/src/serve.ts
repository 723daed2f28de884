import type { DescService } from '@bufbuild/protobuf';
import { InvalidArgumentError } from '@meshkit/core';
import type { Registry } from '@meshkit/discovery';
import { type GrpcServer, type GrpcServerOptions, grpcServer, type ServiceImpl } from '@meshkit/grpc';
import {
  type HttpServerOptions,
  httpServer,
  type KitHandler,
  type MeshServer,
  type SignalSource,
} from '@meshkit/http';
import type { Registry as PromRegistry } from 'prom-client';
import type { MeshConfig } from './config.ts';
import { metricsPortLabel, metricsServer, withMetrics } from './metrics-endpoint.ts';
import { parseLabelValue, parsePort } from './specs.ts';

/** One generated gRPC service and its implementation, for {@link ServeOptions.grpc}. */
export interface GrpcBinding {
  readonly definition: DescService;
  readonly impl: ServiceImpl<DescService>;
}

/**
 * Pairs a generated service with its implementation, typed together.
 *
 * @example
 * ```ts
 * import { UserService, type ServiceImpl } from '@meshkit/grpc';
 * declare const users: ServiceImpl<typeof UserService>;
 *
 * const binding = grpcService(UserService, users);
 * ```
 */
export function grpcService<S extends DescService>(definition: S, impl: ServiceImpl<S>): GrpcBinding {
  return { definition, impl: impl as unknown as ServiceImpl<DescService> };
}

/** Options of `mesh.serve()`: an HTTP server, a gRPC server, or both, registered under one service name. */
export interface ServeOptions {
  /** The service name both servers register under (callers use it with `mesh.http` / `mesh.grpc`). */
  readonly service: string;
  /** The `version` label (routes pick subsets by it). Defaults to the mesh's `version` (`MESH_VERSION`). */
  readonly version?: string;
  /** More labels for both instances (`zone: 'a'`). */
  readonly labels?: Readonly<Record<string, string>>;
  /** The host to listen on. Defaults to the mesh's `host` (`MESH_HOST`, `127.0.0.1`). */
  readonly host?: string;
  /**
   * The address registered for callers. Defaults to the mesh's `address` (`MESH_ADDRESS`), else the host;
   * required when the host is a wildcard (`0.0.0.0`, `::`).
   */
  readonly address?: string;
  /** Serve HTTP: the kit handler and the rest of `httpServer()`'s options. */
  readonly http?: Omit<HttpServerOptions, 'service' | 'registry' | 'instance' | 'shutdown' | 'tls'> & {
    readonly handler: KitHandler;
    /** Defaults to the mesh's `httpPort` (`MESH_HTTP_PORT`, 0: any free port). */
    readonly port?: number;
  };
  /** Serve gRPC: the services (see {@link grpcService}) and the rest of `grpcServer()`'s options. */
  readonly grpc?: Omit<GrpcServerOptions, 'registration' | 'tls'> & {
    readonly services: readonly GrpcBinding[];
    /** Defaults to the mesh's `grpcPort` (`MESH_GRPC_PORT`, 0: any free port). */
    readonly port?: number;
  };
  /** The ordered shutdown. */
  readonly shutdown?: {
    /** How long in-flight requests may run once the servers stop accepting, in ms. Defaults to 10,000. */
    readonly drainTimeoutMs?: number;
    /** How long to keep serving after deregistering, in ms, while callers' watches catch up. Defaults to 1,000. */
    readonly graceMs?: number;
    /** Where SIGTERM and SIGINT come from; `false` installs no handler. Defaults to `process`. */
    readonly signals?: SignalSource | false;
    /**
     * Called after a signal-triggered shutdown (servers drained, the mesh closed) with the exit code;
     * `false` never exits. Defaults to `process.exit`.
     */
    readonly exit?: ((code: number) => void) | false;
  };
}

/** Where a server listens. */
export interface ServedAddress {
  readonly host: string;
  readonly port: number;
  /** `host:port`. */
  readonly address: string;
}

/** The running servers of `mesh.serve()`. */
export interface Served {
  readonly service: string;
  readonly http: ServedAddress | undefined;
  readonly grpc: ServedAddress | undefined;
  /** The HTTP server kit, for its lifecycle and in-flight count. */
  readonly httpServer: MeshServer | undefined;
  readonly grpcServer: GrpcServer | undefined;
  /** The `/metrics` server of a gRPC-only service (its port is the gRPC instance's `metrics-port` label). */
  readonly metrics: ServedAddress | undefined;
  /**
   * Deregisters both instances, keeps serving for the grace period, stops accepting, drains in-flight
   * work (up to `drainTimeoutMs`) and closes. Idempotent.
   */
  close(): Promise<void>;
}

/** What `serve()` needs from its mesh. */
export interface ServeContext {
  readonly config: MeshConfig;
  readonly registry: Registry;
  /** Closes the whole mesh (after a signal). */
  readonly closeMesh: () => Promise<void>;
  /** The mesh's metrics registry, served at `GET /metrics`; none when metrics are off. */
  readonly metrics: PromRegistry | undefined;
}

/** Starts the servers of {@link ServeOptions}, registered in the mesh's registry. */
export async function serve(mesh: ServeContext, options: ServeOptions): Promise<Served> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('serve', 'options must be an object', options);
  }
  if (typeof options.service !== 'string' || options.service === '') {
    throw new InvalidArgumentError('serve.service', 'must be a non-empty string', options.service);
  }
  if (options.http === undefined && options.grpc === undefined) {
    throw new InvalidArgumentError('serve', 'needs http, grpc or both');
  }
  const services = options.grpc?.services;
  if (options.grpc !== undefined && (!Array.isArray(services) || services.length === 0)) {
    throw new InvalidArgumentError('serve.grpc.services', 'must list at least one grpcService()', services);
  }
  const { config, registry } = mesh;
  const version =
    options.version === undefined ? config.version : parseLabelValue('serve.version', options.version);
  const host = options.host ?? config.host;
  const address = options.address ?? config.address ?? host;
  if (address === '0.0.0.0' || address === '::' || address === '') {
    throw new InvalidArgumentError(
      options.address === undefined ? 'MESH_ADDRESS' : 'serve.address',
      `must name the address callers reach this process at when listening on ${host}`,
      options.address ?? config.address,
    );
  }
  const shutdown = options.shutdown ?? {};
  const graceMs = shutdown.graceMs ?? 1_000;
  const labels = options.labels;
  const tls = config.tls;

  let http: MeshServer | undefined;
  if (options.http !== undefined) {
    const { port: _port, ...rest } = options.http;
    http = httpServer({
      ...rest,
      handler: mesh.metrics === undefined ? rest.handler : withMetrics(rest.handler, mesh.metrics),
      service: options.service,
      registry,
      instance: {
        address,
        ...(version === undefined ? {} : { version }),
        ...(labels === undefined ? {} : { labels }),
      },
      shutdown: {
        graceMs,
        ...(shutdown.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: shutdown.drainTimeoutMs }),
        signals: false,
        exit: false,
      },
      ...(tls === undefined
        ? {}
        : {
            tls: {
              cert: tls.cert,
              key: tls.key,
              ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true }),
            },
          }),
    });
  }
  /** Builds the gRPC server; a refused option shuts down what already listens before it rethrows. */
  const makeGrpc = (build: () => GrpcServer): GrpcServer => {
    try {
      return build();
    } catch (error) {
      void Promise.allSettled([http?.shutdown(), metricsOnly?.shutdown()]);
      throw error;
    }
  };
  let httpAddress: ServedAddress | undefined;
  if (http !== undefined) {
    const port =
      options.http?.port === undefined
        ? config.httpPort
        : parsePort('serve.http.port', String(options.http.port));
    const got = await http.listen({ host, port });
    httpAddress = { ...got, address: `${got.host}:${got.port}` };
  }
  // A gRPC-only service answers /metrics on a small HTTP server of its own; the dashboard and scrapers
  // find its port in the gRPC instance's `metrics-port` label.
  const metricsOnly =
    options.grpc !== undefined && http === undefined && mesh.metrics !== undefined
      ? metricsServer(mesh.metrics)
      : undefined;
  let metricsAddress: ServedAddress | undefined;
  if (metricsOnly !== undefined) {
    const got = await metricsOnly.listen({ host, port: config.metricsPort }); // nothing else listens yet
    metricsAddress = { ...got, address: `${got.host}:${got.port}` };
  }
  const scrapePort = mesh.metrics === undefined ? undefined : (metricsAddress ?? httpAddress)?.port;
  let grpc: GrpcServer | undefined;
  if (options.grpc !== undefined) {
    const { port: _port, services: bindings, ...rest } = options.grpc;
    grpc = makeGrpc(() =>
      grpcServer({
        ...rest,
        ...(shutdown.drainTimeoutMs === undefined ? {} : { shutdownGraceMs: shutdown.drainTimeoutMs }),
        registration: {
          registry,
          service: options.service,
          address,
          deregisterGraceMs: graceMs,
          ...(version === undefined ? {} : { version }),
          ...(scrapePort === undefined
            ? labels === undefined
              ? {}
              : { labels }
            : { labels: { ...labels, [metricsPortLabel]: String(scrapePort) } }),
        },
        ...(tls === undefined
          ? {}
          : {
              tls: {
                cert: tls.cert,
                key: tls.key,
                ...(tls.ca === undefined ? {} : { ca: tls.ca, requireClientCert: true }),
              },
            }),
      }),
    );
    for (const binding of bindings) grpc.add(binding.definition, binding.impl);
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      signals?.removeListener('SIGTERM', onSignal);
      signals?.removeListener('SIGINT', onSignal);
      const results = await Promise.allSettled([http?.shutdown(), grpc?.close()]);
      results.push(...(await Promise.allSettled([metricsOnly?.shutdown()])));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    })();
    return closing;
  };
  const signals = shutdown.signals === false ? undefined : (shutdown.signals ?? process);
  const exit =
    shutdown.exit === false ? undefined : (shutdown.exit ?? ((code: number) => process.exit(code)));
  const onSignal = (): void => {
    close()
      .then(() => mesh.closeMesh())
      .then(
        () => exit?.(0),
        () => exit?.(1),
      );
  };

  let grpcAddress: ServedAddress | undefined;
  try {
    if (grpc !== undefined) {
      const port =
        options.grpc?.port === undefined
          ? config.grpcPort
          : parsePort('serve.grpc.port', String(options.grpc.port));
      grpcAddress = await grpc.listen({ host, port });
    }
  } catch (error) {
    await Promise.allSettled([http?.shutdown(), grpc?.close(), metricsOnly?.shutdown()]);
    throw error;
  }
  signals?.on('SIGTERM', onSignal);
  signals?.on('SIGINT', onSignal);
  return {
    service: options.service,
    http: httpAddress,
    grpc: grpcAddress,
    httpServer: http,
    grpcServer: grpc,
    metrics: metricsAddress,
    close,
  };
}
