import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type Clock, InvalidArgumentError, systemClock } from '@meshkit/core';
import { checkInteger, checkString } from '@meshkit/core/internal';
import type { Registry } from '@meshkit/discovery';
import { grpcServer, UserService } from '@meshkit/grpc';
import { httpServer, type IdempotencyStore, memoryIdempotencyStore } from '@meshkit/http';
import { type Broker, outboxRelay, publisher } from '@meshkit/messaging';
import { metricsPortLabel, withMetrics } from 'meshkit';
import type { Registry as PromRegistry } from 'prom-client';
import { type EventHub, eventHub } from './event-hub.ts';
import { topicPatterns } from './events.ts';
import { userServiceImpl } from './grpc.ts';
import { pageTokens } from './page-token.ts';
import { restHandler } from './rest.ts';
import type { UserStore } from './store.ts';
import { type PageSizeOptions, type Users, users } from './users.ts';

/** Options of {@link startUserService}. */
export interface UserServiceOptions {
  /** Where users live; closed by `close()`. */
  readonly store: UserStore;
  /** Where events are relayed to and streams read from; left open by `close()`. */
  readonly broker: Broker;
  /** Both servers register here (and deregister first on close); none: no registration. Left open. */
  readonly registry?: Registry;
  /** HMAC key of page tokens, at least 16 bytes; every instance must share it. */
  readonly pageTokenKey: string | Uint8Array;
  /**
   * Remembers `Idempotency-Key`s of `POST /users`; shared by every instance that may receive a retry
   * (the SQLite store on one host, the PostgreSQL one across hosts). Closed by `close()`. Defaults to an
   * in-memory store (this instance only).
   */
  readonly idempotency?: IdempotencyStore;
  /** The `version` label both registrations carry (`v1`, `v2`), for routing subsets. Defaults to `v1`. */
  readonly version?: string;
  /** Interface both servers listen on. Defaults to `127.0.0.1`. */
  readonly host?: string;
  /** Address registered for callers; needed when `host` is `0.0.0.0`. Defaults to `host`. */
  readonly advertiseAddress?: string;
  /** REST port; 0 picks a free one. Defaults to 8080. */
  readonly httpPort?: number;
  /** gRPC port; 0 picks a free one. Defaults to 50051. */
  readonly grpcPort?: number;
  /** Registry name of the REST endpoint. Defaults to `user-service`. */
  readonly httpService?: string;
  /** Registry name of the gRPC endpoint. Defaults to `user-service-grpc`. */
  readonly grpcService?: string;
  /**
   * One topic for every event (e.g. `user-events` on Kafka); by default one per change
   * (`user.created`, `user.updated`, `user.deleted`).
   */
  readonly eventsTopic?: string;
  /** This instance's consumer group for the event streams. Defaults to `user-service.stream.<host>.<grpc port>`. */
  readonly streamGroup?: string;
  /** Events buffered per stream before a slow one is ended with `RESOURCE_EXHAUSTED`. Defaults to 256. */
  readonly maxStreamBufferedEvents?: number;
  readonly pageSize?: PageSizeOptions;
  /** Largest REST request body, in bytes. Defaults to 65,536. */
  readonly maxBodyBytes?: number;
  /** On close, how long both servers keep serving after deregistering, in ms. Defaults to 1,000 with a registry, else 0. */
  readonly deregisterGraceMs?: number;
  /** On close, how long in-flight calls may run, in ms. Defaults to 10,000. */
  readonly drainTimeoutMs?: number;
  /**
   * Metrics to answer `GET /metrics` with on the REST port (`mesh.telemetry.metrics?.registry`); the gRPC
   * instance then carries the `metrics-port` label. Defaults to none: no `/metrics`.
   */
  readonly metrics?: PromRegistry;
  /** How often an idle outbox relay looks for rows, in ms (commits wake it at once). Defaults to 100. */
  readonly relayPollIntervalMs?: number;
  readonly clock?: Clock;
}

/** A running user service. */
export interface RunningUserService {
  readonly http: { readonly host: string; readonly port: number; readonly url: string };
  readonly grpc: { readonly host: string; readonly port: number; readonly address: string };
  /** The domain, for in-process callers. */
  readonly users: Users;
  readonly hub: EventHub;
  /**
   * Graceful stop: both servers deregister and drain, live streams end with `UNAVAILABLE`, the relay
   * publishes what is committed and stops, the store and idempotency store close. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Starts the user service: REST and gRPC from one process, both registered with the `version` label,
 * the outbox relay, and the live event hub.
 *
 * @example
 * ```ts
 * import { embeddedRegistry } from '@meshkit/discovery';
 * import { sqliteBroker } from '@meshkit/messaging-sqlite';
 * import { openSqliteUserStore } from './store-sqlite.ts';
 * const service = await startUserService({
 *   store: openSqliteUserStore({ path: 'var/users.db' }),
 *   broker: sqliteBroker({ path: 'var/events.db' }),
 *   registry: embeddedRegistry({ path: 'var/registry.db' }),
 *   pageTokenKey: 'a shared secret of 16+ bytes',
 *   version: 'v2',
 *   httpPort: 0,
 *   grpcPort: 0,
 * });
 * console.log(service.http.url, service.grpc.address);
 * await service.close();
 * ```
 */
export async function startUserService(options: UserServiceOptions): Promise<RunningUserService> {
  const { store, broker, registry } = options;
  const clock = options.clock ?? systemClock;
  const version = checkString('startUserService.version', options.version ?? 'v1');
  const host = checkString('startUserService.host', options.host ?? '127.0.0.1');
  const advertiseAddress = options.advertiseAddress;
  if (registry !== undefined && host === '0.0.0.0' && advertiseAddress === undefined) {
    throw new InvalidArgumentError('startUserService.advertiseAddress', 'is required when host is 0.0.0.0');
  }
  const httpPort = checkInteger('startUserService.httpPort', options.httpPort ?? 8080, 0, 65_535);
  const grpcPort = checkInteger('startUserService.grpcPort', options.grpcPort ?? 50051, 0, 65_535);
  const graceMs = checkInteger(
    'startUserService.deregisterGraceMs',
    options.deregisterGraceMs ?? (registry ? 1_000 : 0),
    0,
  );
  const drainTimeoutMs = checkInteger('startUserService.drainTimeoutMs', options.drainTimeoutMs ?? 10_000, 0);
  const routing = { topic: options.eventsTopic };
  const idempotency = options.idempotency ?? memoryIdempotencyStore();

  const domain = users({
    store,
    pageTokens: pageTokens(options.pageTokenKey),
    events: routing,
    ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
    clock,
  });
  const relay = outboxRelay(store.outbox, publisher(broker, { source: '/user-service' }), {
    pollIntervalMs: options.relayPollIntervalMs ?? 100,
    clock,
  });
  const unhookRelay = store.onCommit(() => relay.nudge());
  relay.start();

  const labels = { version };
  const http = httpServer({
    service: options.httpService ?? 'user-service',
    handler:
      options.metrics === undefined ? restHandler(domain) : withMetrics(restHandler(domain), options.metrics),
    ...(registry === undefined ? {} : { registry }),
    instance: { version, labels, ...(advertiseAddress === undefined ? {} : { address: advertiseAddress }) },
    checks: { store: () => store.ping() },
    idempotency: { store: idempotency, methods: ['POST'] },
    limits: { maxBodyBytes: options.maxBodyBytes ?? 65_536 },
    shutdown: { signals: false, exit: false, graceMs, drainTimeoutMs },
    clock,
  });
  /** The gRPC server, registered with the REST port as its `metrics-port` once that is known. */
  const makeGrpc = (metricsPort: number | undefined) =>
    grpcServer({
      shutdownGraceMs: drainTimeoutMs,
      clock,
      ...(registry === undefined
        ? {}
        : {
            registration: {
              registry,
              service: options.grpcService ?? 'user-service-grpc',
              version,
              labels:
                metricsPort === undefined ? labels : { ...labels, [metricsPortLabel]: String(metricsPort) },
              deregisterGraceMs: graceMs,
              ...(advertiseAddress === undefined ? {} : { address: advertiseAddress }),
            },
          }),
    });
  let grpc: ReturnType<typeof makeGrpc> | undefined;

  // A fixed port makes a stable group (a restart resumes it, and the hub skips what predates it); port 0
  // has nothing stable to name it by.
  const instanceName = grpcPort === 0 ? randomUUID() : `${hostname()}.${grpcPort}`;
  const hub = eventHub({
    broker,
    group: options.streamGroup ?? `user-service.stream.${instanceName}`,
    patterns: topicPatterns(routing),
    ...(options.maxStreamBufferedEvents === undefined
      ? {}
      : { maxBufferedEvents: options.maxStreamBufferedEvents }),
    clock,
  });

  const stopAll = async (): Promise<void> => {
    // Streams never finish on their own: end them (UNAVAILABLE) once callers stopped choosing us.
    const servers = Promise.allSettled([http.shutdown(), grpc?.close()]);
    await new Promise((resolve) => setTimeout(resolve, graceMs));
    await hub.close();
    const results = await servers;
    unhookRelay();
    await relay.stop();
    await idempotency.close();
    await store.close();
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  };

  try {
    await hub.start();
    const httpAddress = await http.listen({ port: httpPort, host });
    grpc = makeGrpc(options.metrics === undefined ? undefined : httpAddress.port);
    grpc.add(UserService, userServiceImpl(domain, hub));
    const grpcAddress = await grpc.listen({ port: grpcPort, host });
    let closing: Promise<void> | undefined;
    const running: RunningUserService = {
      http: { ...httpAddress, url: `http://${advertiseAddress ?? httpAddress.host}:${httpAddress.port}` },
      grpc: grpcAddress,
      users: domain,
      hub,
      close: () => {
        closing ??= stopAll();
        return closing;
      },
    };
    return running;
  } catch (error) {
    await stopAll().catch(() => {});
    throw error;
  }
}
