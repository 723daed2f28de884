import type { DescService } from '@bufbuild/protobuf';
import { InvalidArgumentError } from '@meshkit/core';
import type { Registry } from '@meshkit/discovery';
import { type GrpcClient, type GrpcClientOptions, grpcClient, grpcRouteAdapter } from '@meshkit/grpc';
import { type HttpClient, type HttpClientOptions, httpClient, httpRouteAdapter } from '@meshkit/http';
import {
  type Broker,
  type ConsumeOptions,
  type Consumer,
  consume,
  type Publisher,
  type PublisherOptions,
  publisher,
} from '@meshkit/messaging';
import { type RouteSource, routing } from '@meshkit/routing';
import { type MeshConfig, type MeshConfigOptions, meshConfig } from './config.ts';
import { type Opened, openBroker, openRegistry, openRoutes } from './open.ts';
import { type Served, type ServeOptions, serve } from './serve.ts';
import {
  type MeshDatabase,
  type MeshInbox,
  type MeshOutbox,
  type MeshOutboxOptions,
  MeshStores,
} from './stores.ts';
import { type MeshTelemetry, startTelemetry } from './telemetry.ts';

/** Options of {@link createMesh}: every default can be replaced here or by its environment variable. */
export type MeshOptions = MeshConfigOptions;

/** `mesh.http()` options: `httpClient()`'s, less what the mesh supplies; `route: false` skips routing. */
export type MeshHttpOptions = Omit<HttpClientOptions, 'service' | 'registry' | 'endpoints' | 'route'> & {
  readonly route?: HttpClientOptions['route'] | false;
};

/** `mesh.grpc()` options: `grpcClient()`'s, less what the mesh supplies; `route: false` skips routing. */
export type MeshGrpcOptions = Omit<GrpcClientOptions, 'service' | 'registry' | 'endpoints' | 'route'> & {
  readonly route?: GrpcClientOptions['route'] | false;
};

/** `mesh.publisher()` options: `publisher()`'s, with `source` defaulting to `/<mesh name>`. */
export type MeshPublisherOptions<T> = Omit<PublisherOptions<T>, 'source'> & { readonly source?: string };

/** A wired mesh: clients, servers and messaging on one registry, one broker and one routing table. */
export interface Mesh {
  /** The registry every client looks up and every server registers in (close it with the mesh). */
  readonly registry: Registry;
  /** The broker publishers and consumers use (close it with the mesh); throws when `broker: false`. */
  readonly broker: Broker;
  /** The routing table clients apply, when the mesh has routes. */
  readonly routes: RouteSource | undefined;
  /** The resolved configuration (data directory, specs, ports, version). */
  readonly config: MeshConfig;
  /**
   * Metrics (`telemetry.metrics?.registry`, served by `serve()` at `GET /metrics`), tracing and logs, as
   * the `telemetry` option and its variables turned them on. Closed with the mesh.
   */
  readonly telemetry: MeshTelemetry;
  /** A resilient HTTP client for `service`: discovery on the mesh's registry, its routes applied. */
  http(service: string, options?: MeshHttpOptions): HttpClient;
  /** A typed gRPC client of `definition` for `service`, likewise. */
  grpc<S extends DescService>(definition: S, service: string, options?: MeshGrpcOptions): GrpcClient<S>;
  /** A publisher on the mesh's broker (flushed when the mesh closes). */
  publisher<T = unknown>(options?: MeshPublisherOptions<T>): Publisher<T>;
  /** A consumer on the mesh's broker (stopped when the mesh closes). */
  subscribe<T = unknown>(options: ConsumeOptions<T>): Promise<Consumer>;
  /**
   * The service's own database: PostgreSQL (a `pg` pool) when `DATABASE_URL` is set, else the SQLite
   * file `<dataDir>/<MESH_SERVICE or "app">.db`. Opened on first use, closed with the mesh.
   */
  database(): Promise<MeshDatabase>;
  /**
   * A transactional outbox on {@link Mesh.database} and a started relay publishing its rows on the mesh's
   * broker (source `/<mesh name>`): write your state and `tx.add(event)` in one transaction.
   */
  outbox(options?: MeshOutboxOptions): Promise<MeshOutbox>;
  /** An idempotent inbox for `consumer` on {@link Mesh.database}: `inbox.handler(effect)` drops duplicates. */
  inbox(consumer: string, options?: { readonly table?: string }): Promise<MeshInbox>;
  /**
   * Starts an HTTP and/or gRPC server registered in the registry (with the `version` label and yours),
   * with health, and graceful shutdown on SIGTERM/SIGINT: deregister, grace, drain, close the mesh, exit.
   */
  serve(options: ServeOptions): Promise<Served>;
  /**
   * Closes what the mesh opened, in order: servers (deregister, drain), consumers, outbox relays,
   * publishers (flush), clients, routes, database, broker, registry, telemetry (spans flushed). Idempotent. Instances passed in
   * options are left open.
   */
  close(): Promise<void>;
}

/**
 * Wires discovery, routing, HTTP and gRPC clients and servers and messaging with embedded defaults: a
 * SQLite registry file and a SQLite broker file in `var/`, no routes. Each default is replaced by an
 * option or an environment variable (`MESH_REGISTRY`, `MESH_BROKER`, `MESH_ROUTES`, `DATABASE_URL`,
 * `MESH_DATA_DIR`, ...; see {@link meshVariables}). Every value is checked before anything opens: a bad
 * one rejects with `InvalidArgumentError` naming the variable and the value.
 *
 * @example
 * ```ts
 * const mesh = await createMesh(); // var/registry.db, var/events.db
 * const users = mesh.http('user-service');
 * const user = await users.get('/users/42');
 * await mesh.publisher().publish('user.viewed', { id: '42' });
 * await mesh.close();
 * ```
 */
export function createMesh(options: MeshOptions = {}): Promise<Mesh> {
  try {
    return openMesh(meshConfig(options));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Opens a mesh on a configuration already read by `meshConfig()` (tools that name options their own way). */
export async function openMesh(config: MeshConfig): Promise<Mesh> {
  const opened: Opened<unknown>[] = [];
  let registry: Opened<Registry>;
  let broker: Opened<Broker> | undefined;
  let routes: Opened<RouteSource> | undefined;
  const telemetry = startTelemetry(config.telemetry);
  try {
    registry = await openRegistry(config);
    opened.push(registry);
    broker = await openBroker(config);
    if (broker !== undefined) opened.push(broker);
    routes = await openRoutes(config);
    if (routes !== undefined) opened.push(routes);
  } catch (error) {
    for (const o of opened.reverse()) await o.close?.().catch(() => {});
    await telemetry.close().catch(() => {});
    throw error;
  }

  const servers = new Set<Served>();
  const consumers = new Set<Consumer>();
  const publishers = new Set<Publisher<never>>();
  const clients = new Set<{ close(): Promise<void> }>();
  const stores = new MeshStores(config);
  const sourceLabels = config.name === undefined ? undefined : { app: config.name };
  const routeFor = <Req, Res>(
    service: string,
    adapter: Parameters<typeof routing<Req, Res>>[0]['adapter'],
  ) =>
    routes === undefined
      ? undefined
      : routing<Req, Res>({
          routes: routes.value,
          host: service,
          adapter,
          ...(sourceLabels === undefined ? {} : { sourceLabels }),
        });
  const tls = config.tls;
  const clientTls =
    tls === undefined
      ? undefined
      : { cert: tls.cert, key: tls.key, ...(tls.ca === undefined ? {} : { ca: tls.ca }) };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const errors: unknown[] = [];
      const settle = async (work: Iterable<Promise<unknown> | undefined>): Promise<void> => {
        for (const r of await Promise.allSettled(work)) if (r.status === 'rejected') errors.push(r.reason);
      };
      await settle([...servers].map((s) => s.close()));
      await settle([...consumers].map((c) => c.stop()));
      await settle([stores.stopRelays()]);
      await settle([...publishers].map((p) => p.flush()));
      await settle([...clients].map((c) => c.close()));
      await settle([routes?.close?.()]);
      await settle([stores.close()]);
      await settle([broker?.close?.()]);
      await settle([registry.close?.()]);
      await settle([telemetry.close()]);
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors, 'mesh.close: several parts failed to close');
    })();
    return closing;
  };

  const theBroker = (): Broker => {
    if (broker === undefined) {
      throw new InvalidArgumentError(config.sources.broker, 'is false: this mesh has no broker');
    }
    return broker.value;
  };
  const mesh: Mesh = {
    registry: registry.value,
    get broker() {
      return theBroker();
    },
    routes: routes?.value,
    config,
    telemetry,
    http(service, clientOptions = {}) {
      const { route, ...rest } = clientOptions;
      const layer = route === false ? undefined : (route ?? routeFor(service, httpRouteAdapter));
      const client = httpClient({
        ...(clientTls === undefined ? {} : { tls: clientTls }),
        ...rest,
        service,
        registry: registry.value,
        ...(layer === undefined ? {} : { route: layer }),
      });
      clients.add(client);
      const closeClient = client.close.bind(client);
      return Object.assign(client, {
        close: () => {
          clients.delete(client);
          return closeClient();
        },
      });
    },
    grpc(definition, service, clientOptions = {}) {
      const { route, ...rest } = clientOptions;
      const layer = route === false ? undefined : (route ?? routeFor(service, grpcRouteAdapter));
      const client = grpcClient(definition, {
        ...(clientTls === undefined ? {} : { tls: clientTls }),
        ...rest,
        service,
        registry: registry.value,
        ...(layer === undefined ? {} : { route: layer }),
      });
      const handle = { close: () => client.$close() };
      clients.add(handle);
      const closeClient = client.$close;
      return Object.assign(client, {
        $close: () => {
          clients.delete(handle);
          return closeClient();
        },
      });
    },
    publisher<T>(publisherOptions: MeshPublisherOptions<T> = {}) {
      const made = publisher<T>(theBroker(), {
        ...publisherOptions,
        source: publisherOptions.source ?? `/${config.name ?? 'meshkit'}`,
      });
      publishers.add(made as Publisher<never>);
      return made;
    },
    async subscribe<T>(consumeOptions: ConsumeOptions<T>) {
      const consumer = await consume<T>(theBroker(), consumeOptions);
      consumers.add(consumer);
      const stop = consumer.stop.bind(consumer);
      return Object.assign(consumer, {
        stop: () => {
          consumers.delete(consumer);
          return stop();
        },
      });
    },
    database: () => stores.database(),
    outbox: (outboxOptions) => stores.outbox(mesh.publisher(), outboxOptions),
    inbox: (consumer, inboxOptions) => stores.inbox(consumer, inboxOptions),
    async serve(serveOptions) {
      const served = await serve(
        { config, registry: registry.value, closeMesh: close, metrics: telemetry.metrics?.registry },
        serveOptions,
      );
      servers.add(served);
      return served;
    },
    close,
  };
  return mesh;
}
