import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError } from '@meshkit/core';
import type { Registry } from '@meshkit/discovery';
import type { Broker } from '@meshkit/messaging';
import type { RouteSource } from '@meshkit/routing';
import {
  type BrokerSpec,
  parseBrokerSpec,
  parseDatabaseUrl,
  parseLabelValue,
  parsePort,
  parseRegistrySpec,
  type RegistrySpec,
  resolvePath,
} from './specs.ts';
import { type MeshTelemetryConfig, type MeshTelemetryOptions, telemetryConfig } from './telemetry-config.ts';

/** The environment a mesh reads: variable names to values (`process.env` by default). */
export type MeshEnv = Readonly<Record<string, string | undefined>>;

/** TLS for a mesh's servers and clients: PEM text or bytes. */
export interface MeshTlsOptions {
  /** This process's certificate chain: served by its servers, presented by its clients (mutual TLS). */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /**
   * The CA that peers' certificates chain to. Clients trust it instead of the system's CAs; servers
   * then require client certificates signed by it (mutual TLS). Without it, clients trust the system's
   * CAs and servers accept any client.
   */
  readonly ca?: string | Buffer;
}

/** The options every variable of {@link meshVariables} stands in for; an option wins over its variable. */
export interface MeshConfigOptions {
  /** The environment to read. Defaults to `process.env`; nothing else global is read. */
  readonly env?: MeshEnv;
  /** The directory relative paths are resolved against. Defaults to `process.cwd()`. */
  readonly cwd?: string;
  /** Where the embedded files go (`MESH_DATA_DIR`). Defaults to `var` (created if missing). */
  readonly dataDir?: string;
  /**
   * The registry (`MESH_REGISTRY`): an instance (the mesh will not close it), or a spec: a file path or
   * `sqlite:[path]` for the embedded one, `etcd://host:port[/prefix]`. Defaults to `<dataDir>/registry.db`.
   */
  readonly registry?: Registry | string;
  /**
   * The broker (`MESH_BROKER`): an instance (the mesh will not close it), or `sqlite:[path]`,
   * `amqp://…`, `kafka://host:port[,host:port]`, or `false` for none (no publishers or consumers).
   * Defaults to `sqlite:<dataDir>/events.db`.
   */
  readonly broker?: Broker | string | false;
  /**
   * Routing (`MESH_ROUTES`): a YAML file or a directory of them (followed as they change), a route
   * source (`watchRoutes()`), or `false` for none. Defaults to none.
   */
  readonly routes?: string | RouteSource | false;
  /** PostgreSQL for the outbox and inbox (`DATABASE_URL`). Defaults to none: SQLite files in `dataDir`. */
  readonly databaseUrl?: string;
  /** This process's name (`MESH_SERVICE`): the default publisher `source` and routing `sourceLabels.app`. */
  readonly name?: string;
  /** The `version` label `serve()` registers with (`MESH_VERSION`). Defaults to none. */
  readonly version?: string;
  /** The host servers listen on (`MESH_HOST`). Defaults to `127.0.0.1`. */
  readonly host?: string;
  /**
   * The address `serve()` registers, which callers connect to (`MESH_ADDRESS`). Defaults to `host`; needed
   * when `host` is a wildcard (`0.0.0.0`, `::`).
   */
  readonly address?: string;
  /** The HTTP port `serve()` listens on (`MESH_HTTP_PORT`). Defaults to 0 (any free port). */
  readonly httpPort?: number;
  /** The gRPC port `serve()` listens on (`MESH_GRPC_PORT`). Defaults to 0 (any free port). */
  readonly grpcPort?: number;
  /** TLS for servers and clients (`MESH_TLS_CERT`, `MESH_TLS_KEY`, `MESH_TLS_CA`: file paths). Defaults to none. */
  readonly tls?: MeshTlsOptions;
  /**
   * Metrics, traces and logs through `@meshkit/observability` (`MESH_METRICS`, `MESH_METRICS_PORT`,
   * `MESH_LOG_LEVEL`, the standard `OTEL_*` variables). Defaults: metrics on, tracing off unless the
   * `OTEL_*` variables ask for it, logs of notable decisions at `info` on stderr.
   */
  readonly telemetry?: MeshTelemetryOptions;
  /**
   * The port of the small HTTP server `serve()` starts for `GET /metrics` when a service has only gRPC
   * (`MESH_METRICS_PORT`). Defaults to 0 (any free port; registered as the instance's `metrics-port` label).
   */
  readonly metricsPort?: number;
}

/** Everything a mesh starts from, checked and resolved. */
export interface MeshConfig {
  readonly dataDir: string;
  readonly registry: RegistrySpec | { readonly kind: 'instance'; readonly registry: Registry };
  readonly broker:
    | BrokerSpec
    | { readonly kind: 'instance'; readonly broker: Broker }
    | { readonly kind: 'none' };
  readonly routes: string | RouteSource | undefined;
  readonly databaseUrl: string | undefined;
  readonly name: string | undefined;
  readonly version: string | undefined;
  readonly host: string;
  readonly address: string | undefined;
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly tls: MeshTlsOptions | undefined;
  readonly telemetry: MeshTelemetryConfig;
  readonly metricsPort: number;
  /** Where the registry, broker and routes came from (an option's or a variable's name), for errors. */
  readonly sources: { readonly registry: string; readonly broker: string; readonly routes: string };
}

/** Every environment variable a mesh (and the `meshkit` CLI) reads, with its meaning and default. */
export const meshVariables = {
  MESH_DATA_DIR: 'directory for the embedded files (default `var`, created if missing)',
  MESH_REGISTRY:
    'file path or `sqlite:[path]` (embedded, default `<data dir>/registry.db`), `etcd://host:port[/prefix]`',
  MESH_BROKER:
    '`sqlite:[path]` (embedded, default `<data dir>/events.db`), `amqp://…`, `kafka://host:port[,host:port]`',
  MESH_ROUTES: 'Istio YAML file or directory of files, followed as it changes (default: no routing)',
  DATABASE_URL: '`postgres://…` for the outbox and inbox (default: SQLite files in the data dir)',
  MESH_SERVICE: "this process's name: default publisher source, routing source label `app`",
  MESH_VERSION: 'the `version` label `serve()` registers with (default none)',
  MESH_HOST: 'host servers listen on (default `127.0.0.1`)',
  MESH_ADDRESS:
    'address `serve()` registers for callers (default MESH_HOST; needed when that is 0.0.0.0 or ::)',
  MESH_HTTP_PORT: 'HTTP port of `serve()` (default 0: any free port)',
  MESH_GRPC_PORT: 'gRPC port of `serve()` (default 0: any free port)',
  MESH_TLS_CERT: "PEM file: this process's certificate (servers and mutual-TLS clients); needs MESH_TLS_KEY",
  MESH_TLS_KEY: 'PEM file: the private key of MESH_TLS_CERT',
  MESH_TLS_CA: 'PEM file: the CA peers chain to; servers then require client certificates',
  MESH_METRICS: '`false` turns off Prometheus metrics (default on: `GET /metrics` on every `serve()`)',
  MESH_METRICS_PORT:
    'port of the `/metrics` server of a gRPC-only `serve()` (default 0: any free port, label `metrics-port`)',
  MESH_LOG_LEVEL:
    'level of the decision log on stderr: fatal, error, warn, info (default), debug, trace, silent',
  OTEL_TRACES_EXPORTER: '`otlp` or `console` turns tracing on, `none` keeps it off (default: off)',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'OTLP/HTTP collector; set, it turns tracing on (also `..._TRACES_ENDPOINT`)',
  OTEL_SDK_DISABLED: '`true` turns tracing off whatever else asks for it',
  OTEL_SERVICE_NAME: "the spans' `service.name` (default MESH_SERVICE)",
} as const;

/**
 * Reads a mesh's configuration from its options and environment (an option wins over its variable),
 * checking every value: a bad one throws `InvalidArgumentError` naming the variable (or option) and the
 * value. Reads the TLS files; opens nothing else.
 */
export function meshConfig(
  options: MeshConfigOptions = {},
  optionName: (option: keyof MeshConfigOptions) => string = (option) => `createMesh.${option}`,
): MeshConfig {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('createMesh', 'options must be an object', options);
  }
  const env = options.env === undefined ? process.env : options.env;
  if (typeof env !== 'object' || env === null) {
    throw new InvalidArgumentError(optionName('env'), 'must be an object of variables', env);
  }
  const cwd = options.cwd ?? process.cwd();
  /** The option if given, else the variable if set (and not empty), with the name to blame. */
  const pick = <T>(option: keyof MeshConfigOptions, variable: string): [T | string, string] | undefined => {
    const value = options[option];
    if (value !== undefined && value !== false) return [value as T, optionName(option)];
    const text = env[variable];
    return text === undefined || text === '' ? undefined : [text, variable];
  };
  const text = (option: keyof MeshConfigOptions, variable: string): [string, string] | undefined => {
    const got = pick<string>(option, variable);
    if (got !== undefined && (typeof got[0] !== 'string' || got[0].trim() === '')) {
      throw new InvalidArgumentError(got[1], 'must be a non-empty string', got[0]);
    }
    return got as [string, string] | undefined;
  };

  const dataDirText = text('dataDir', 'MESH_DATA_DIR');
  const dataDir = resolvePath(cwd, dataDirText?.[0] ?? 'var');

  const registryGiven = pick<Registry>('registry', 'MESH_REGISTRY');
  let registry: MeshConfig['registry'] = { kind: 'embedded', path: resolve(dataDir, 'registry.db') };
  if (registryGiven !== undefined) {
    const [value, field] = registryGiven;
    if (typeof value === 'string') registry = parseRegistrySpec(field, value, cwd, dataDir);
    else if (isRegistry(value)) registry = { kind: 'instance', registry: value };
    else throw new InvalidArgumentError(field, 'must be a Registry or a registry spec string', value);
  }

  const brokerGiven = options.broker === false ? undefined : pick<Broker>('broker', 'MESH_BROKER');
  let broker: MeshConfig['broker'] =
    options.broker === false ? { kind: 'none' } : { kind: 'sqlite', path: resolve(dataDir, 'events.db') };
  if (brokerGiven !== undefined) {
    const [value, field] = brokerGiven;
    if (typeof value === 'string') broker = parseBrokerSpec(field, value, cwd, dataDir);
    else if (isBroker(value)) broker = { kind: 'instance', broker: value };
    else throw new InvalidArgumentError(field, 'must be a Broker or a broker spec string', value);
  }

  let routes: MeshConfig['routes'];
  let routesSource = 'MESH_ROUTES';
  if (options.routes !== false) {
    const got = pick<RouteSource>('routes', 'MESH_ROUTES');
    if (got !== undefined) {
      const [value, field] = got;
      routesSource = field;
      if (typeof value === 'string') {
        if (value.trim() === '') throw new InvalidArgumentError(field, 'must be a non-empty path', value);
        routes = resolvePath(cwd, value);
      } else if (typeof value === 'object' && value !== null && 'table' in value) routes = value;
      else throw new InvalidArgumentError(field, 'must be a path or a route source', value);
    }
  }

  const database = text('databaseUrl', 'DATABASE_URL');
  const name = text('name', 'MESH_SERVICE');
  const version = text('version', 'MESH_VERSION');
  const host = text('host', 'MESH_HOST');
  const address = text('address', 'MESH_ADDRESS');
  return {
    dataDir,
    registry,
    broker,
    routes,
    databaseUrl: database === undefined ? undefined : parseDatabaseUrl(database[1], database[0]),
    name: name === undefined ? undefined : parseLabelValue(name[1], name[0]),
    version: version === undefined ? undefined : parseLabelValue(version[1], version[0]),
    host: host?.[0] ?? '127.0.0.1',
    address: address?.[0],
    httpPort: port(pick<number>('httpPort', 'MESH_HTTP_PORT')),
    grpcPort: port(pick<number>('grpcPort', 'MESH_GRPC_PORT')),
    tls: options.tls !== undefined ? checkTls(options.tls, optionName('tls')) : tlsFromEnv(env, cwd),
    telemetry: telemetryConfig(options.telemetry, env, optionName('telemetry'), name?.[0]),
    metricsPort: port(pick<number>('metricsPort', 'MESH_METRICS_PORT')),
    sources: {
      registry: registryGiven?.[1] ?? 'MESH_REGISTRY',
      broker: options.broker === false ? optionName('broker') : (brokerGiven?.[1] ?? 'MESH_BROKER'),
      routes: routesSource,
    },
  };
}

function port(got: [number | string, string] | undefined): number {
  if (got === undefined) return 0;
  const [value, field] = got;
  return parsePort(field, String(value));
}

function checkTls(tls: MeshTlsOptions, field: string): MeshTlsOptions {
  if (typeof tls !== 'object' || tls === null) {
    throw new InvalidArgumentError(field, 'must be an object', tls);
  }
  if (tls.cert === undefined || tls.key === undefined) {
    throw new InvalidArgumentError(field, 'needs both cert and key');
  }
  return tls;
}

function tlsFromEnv(env: MeshEnv, cwd: string): MeshTlsOptions | undefined {
  const read = (variable: string): Buffer | undefined => {
    const path = env[variable];
    if (path === undefined || path === '') return undefined;
    try {
      return readFileSync(resolvePath(cwd, path));
    } catch (error) {
      throw new InvalidArgumentError(
        variable,
        `must name a readable PEM file: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
        path,
      );
    }
  };
  const cert = read('MESH_TLS_CERT');
  const key = read('MESH_TLS_KEY');
  const ca = read('MESH_TLS_CA');
  if (cert === undefined && key === undefined) {
    if (ca !== undefined)
      throw new InvalidArgumentError('MESH_TLS_CA', 'needs MESH_TLS_CERT and MESH_TLS_KEY');
    return undefined;
  }
  if (cert === undefined) throw new InvalidArgumentError('MESH_TLS_CERT', 'must be set with MESH_TLS_KEY');
  if (key === undefined) throw new InvalidArgumentError('MESH_TLS_KEY', 'must be set with MESH_TLS_CERT');
  return ca === undefined ? { cert, key } : { cert, key, ca };
}

function isRegistry(value: unknown): value is Registry {
  const r = value as Registry;
  return (
    typeof r === 'object' && r !== null && typeof r.lookup === 'function' && typeof r.watch === 'function'
  );
}

function isBroker(value: unknown): value is Broker {
  const b = value as Broker;
  return (
    typeof b === 'object' &&
    b !== null &&
    typeof b.publish === 'function' &&
    typeof b.subscribe === 'function'
  );
}
