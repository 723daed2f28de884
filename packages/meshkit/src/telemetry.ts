import { type Logs, logs, type Metrics, metrics, type Tracing, tracing } from '@meshkit/observability';
import { ConsoleSpanExporter } from '@opentelemetry/sdk-trace';
import { pino } from 'pino';
import type { MeshTelemetryConfig } from './telemetry-config.ts';

/** A mesh's running subscribers of `@meshkit/observability`. */
export interface MeshTelemetry {
  /** Prometheus metrics on this mesh's own registry, when on. */
  readonly metrics: Metrics | undefined;
  /** The span subscriber, when tracing is on. */
  readonly tracing: Tracing | undefined;
  /** The decision log, when on. */
  readonly logs: Logs | undefined;
  /** Unsubscribes everything and flushes pending spans. Idempotent. */
  close(): Promise<void>;
}

/** Starts what `config` turns on. */
export function startTelemetry(config: MeshTelemetryConfig): MeshTelemetry {
  const observed = config.metrics ? metrics() : undefined;
  const traces =
    config.tracing === undefined
      ? undefined
      : tracing(
          config.consoleTraces && config.tracing.exporter === undefined
            ? { ...config.tracing, exporter: new ConsoleSpanExporter() }
            : config.tracing,
        );
  const logged =
    config.logLevel === undefined
      ? undefined
      : logs({ logger: pino({ level: config.logLevel }, pino.destination(2)) });
  let closing: Promise<void> | undefined;
  return {
    metrics: observed,
    tracing: traces,
    logs: logged,
    close: () => {
      closing ??= (async () => {
        observed?.close();
        logged?.close();
        await traces?.close();
      })();
      return closing;
    },
  };
}
