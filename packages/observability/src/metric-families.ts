import { Gauge, type Registry } from 'prom-client';
import { CounterFamily, HistogramFamily, UpDownGaugeFamily } from './series.ts';

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
): CounterFamily<L> {
  return new CounterFamily<L>(registry, name, help, labelNames);
}

/** A gauge of things in progress (up and down on the hot path) on `registry`. */
export function upDownGauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
): UpDownGaugeFamily<L> {
  return new UpDownGaugeFamily<L>(registry, name, help, labelNames);
}

/** A latency histogram in seconds on `registry`. */
export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
): HistogramFamily<L> {
  return new HistogramFamily<L>(registry, name, help, labelNames, durationBuckets);
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
