import { InvalidArgumentError } from '@meshkit/core';
import type { TracingOptions } from '@meshkit/observability';
import type { MeshEnv } from './config.ts';

/** The pino levels `MESH_LOG_LEVEL` accepts; `silent` writes nothing. */
export const meshLogLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A level of {@link meshLogLevels}. */
export type MeshLogLevel = (typeof meshLogLevels)[number];

/** The `telemetry` option of `createMesh()`: what `@meshkit/observability` subscribes for this mesh. */
export interface MeshTelemetryOptions {
  /**
   * Prometheus metrics on a registry of this mesh's own (`MESH_METRICS=false` turns them off), served by
   * `mesh.serve()` at `GET /metrics`. Defaults to `true`.
   */
  readonly metrics?: boolean;
  /**
   * OpenTelemetry spans: `tracing()`'s options (an in-memory exporter in tests), or `false`. Defaults to
   * on only when the standard variables ask for it: `OTEL_TRACES_EXPORTER` (`otlp` or `console`; `none`
   * is off), `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
   * `OTEL_SDK_DISABLED=true` turns tracing off whatever else asks for it.
   */
  readonly tracing?: TracingOptions | false;
  /**
   * One pino line per notable decision, on stderr, from this level up (`MESH_LOG_LEVEL`): one of
   * {@link meshLogLevels}, or `false` for none. Defaults to `info`.
   */
  readonly logs?: MeshLogLevel | false;
}

/** What a mesh observes, checked. */
export interface MeshTelemetryConfig {
  readonly metrics: boolean;
  /** The tracing options, or `undefined` when tracing is off. */
  readonly tracing: TracingOptions | undefined;
  /** `OTEL_TRACES_EXPORTER=console`: spans are written to stdout instead of exported over OTLP. */
  readonly consoleTraces: boolean;
  /** The log level, or `undefined` when logs are off. */
  readonly logLevel: MeshLogLevel | undefined;
}

/** Reads the `telemetry` option and its variables; an option wins over its variable. */
export function telemetryConfig(
  options: MeshTelemetryOptions | undefined,
  env: MeshEnv,
  field: string,
  serviceName: string | undefined,
): MeshTelemetryConfig {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(field, 'must be an object', options);
  }
  const set = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };

  let metrics = true;
  if (options?.metrics !== undefined) {
    if (typeof options.metrics !== 'boolean') {
      throw new InvalidArgumentError(`${field}.metrics`, 'must be a boolean', options.metrics);
    }
    metrics = options.metrics;
  } else {
    const text = set('MESH_METRICS');
    if (text !== undefined) {
      if (text !== 'true' && text !== 'false') {
        throw new InvalidArgumentError('MESH_METRICS', 'must be true or false', text);
      }
      metrics = text === 'true';
    }
  }

  let logLevel: MeshLogLevel | undefined = 'info';
  if (options?.logs !== undefined) {
    if (options.logs === false) logLevel = undefined;
    else logLevel = level(`${field}.logs`, options.logs);
  } else {
    const text = set('MESH_LOG_LEVEL');
    if (text !== undefined) logLevel = level('MESH_LOG_LEVEL', text.toLowerCase());
  }
  if (logLevel === 'silent') logLevel = undefined;

  const name = set('OTEL_SERVICE_NAME') ?? serviceName;
  let tracing: TracingOptions | undefined;
  let consoleTraces = false;
  if (options?.tracing !== undefined && options.tracing !== false) {
    if (typeof options.tracing !== 'object' || options.tracing === null) {
      throw new InvalidArgumentError(
        `${field}.tracing`,
        'must be tracing() options or false',
        options.tracing,
      );
    }
    tracing = { ...(name === undefined ? {} : { serviceName: name }), ...options.tracing };
  } else if (options?.tracing === undefined) {
    const exporter = set('OTEL_TRACES_EXPORTER')?.toLowerCase();
    if (exporter !== undefined && exporter !== 'otlp' && exporter !== 'console' && exporter !== 'none') {
      throw new InvalidArgumentError('OTEL_TRACES_EXPORTER', 'must be otlp, console or none', exporter);
    }
    const endpoint = set('OTEL_EXPORTER_OTLP_ENDPOINT') ?? set('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    if (exporter === 'otlp' || exporter === 'console' || (exporter === undefined && endpoint !== undefined)) {
      tracing = name === undefined ? {} : { serviceName: name };
      consoleTraces = exporter === 'console';
    }
  }
  const disabled = set('OTEL_SDK_DISABLED')?.toLowerCase() === 'true';
  return { metrics, tracing: disabled ? undefined : tracing, consoleTraces, logLevel };
}

function level(field: string, value: unknown): MeshLogLevel {
  if (typeof value !== 'string' || !(meshLogLevels as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(field, `must be one of ${meshLogLevels.join(', ')}`, value);
  }
  return value as MeshLogLevel;
}
