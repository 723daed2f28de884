import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Latency buckets in seconds: OpenTelemetry's advisory buckets for HTTP and RPC durations. */
export const durationBuckets: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** A counter on `registry`. */
export function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
): Counter<L> {
  return new Counter<L>({ name, help, labelNames, registers: [registry] });
}

/** A latency histogram in seconds on `registry`. */
export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
): Histogram<L> {
  return new Histogram<L>({ name, help, labelNames, buckets: [...durationBuckets], registers: [registry] });
}

/** A gauge on `registry`, optionally computed on collection. */
export function gauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  collect?: (this: Gauge<L>) => void,
): Gauge<L> {
  return new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    ...(collect === undefined ? {} : { collect }),
  });
}
