import type { Registry } from 'prom-client';

/**
 * Counter, gauge and histogram families for the per-call hot path, registered on a prom-client
 * `Registry` as custom metrics. prom-client's own children validate and hash their labels on every
 * `inc`/`observe`; these resolve a series once (`labels()`), after which recording is an array
 * increment. Exposition is prom-client's (the registry formats what `get()` returns).
 */

type Labels<L extends string> = Readonly<Record<L, string>>;

interface Sample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName?: string;
}

abstract class Family<L extends string, S> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly L[];
  readonly #series = new Map<string, { readonly labels: Labels<L>; readonly series: S }>();

  constructor(registry: Registry, name: string, help: string, labelNames: readonly L[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    registry.registerMetric(this as never);
  }

  /** The series of `labels`, made on first use. */
  labels(labels: Labels<L>): S {
    let key = '';
    for (const name of this.labelNames) key += `${labels[name]}\u0001`;
    let entry = this.#series.get(key);
    if (entry === undefined) {
      const own = {} as Record<L, string>;
      for (const name of this.labelNames) own[name] = labels[name] ?? '';
      entry = { labels: own, series: this.create() };
      this.#series.set(key, entry);
    }
    return entry.series;
  }

  protected abstract create(): S;
  protected abstract samples(labels: Labels<L>, series: S, out: Sample[]): void;

  /** What prom-client's registry reads. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    for (const { labels, series } of this.#series.values()) this.samples(labels, series, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Drops every series (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    this.#series.clear();
  }
}

/** One counter or gauge series. */
export class ValueSeries {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
}

/** A counter family; `inc()` on a series from `labels()`. */
export class CounterFamily<L extends string> extends Family<L, ValueSeries> {
  readonly type: 'counter' | 'gauge' = 'counter';
  inc(labels: Labels<L>, by = 1): void {
    this.labels(labels).inc(by);
  }
  protected create(): ValueSeries {
    return new ValueSeries();
  }
  protected samples(labels: Labels<L>, series: ValueSeries, out: Sample[]): void {
    out.push({ labels, value: series.value });
  }
}

/** A gauge family whose series go up and down. */
export class UpDownGaugeFamily<L extends string> extends CounterFamily<L> {
  override readonly type = 'gauge';
}

/** One histogram series: counts per bucket (not cumulative), sum and count. */
export class HistogramSeries {
  readonly #bounds: readonly number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

/** A histogram family with fixed bucket bounds. */
export class HistogramFamily<L extends string> extends Family<L, HistogramSeries> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];
  constructor(
    registry: Registry,
    name: string,
    help: string,
    labelNames: readonly L[],
    bounds: readonly number[],
  ) {
    super(registry, name, help, labelNames);
    this.#bounds = [...bounds].sort((a, b) => a - b);
  }
  observe(labels: Labels<L>, value: number): void {
    this.labels(labels).observe(value);
  }
  protected create(): HistogramSeries {
    return new HistogramSeries(this.#bounds);
  }
  protected samples(labels: Labels<L>, series: HistogramSeries, out: Sample[]): void {
    let cumulative = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      cumulative += series.counts[i]!;
      out.push({
        labels: { ...labels, le: this.#bounds[i]! },
        value: cumulative,
        metricName: `${this.name}_bucket`,
      });
    }
    out.push({ labels: { ...labels, le: '+Inf' }, value: series.count, metricName: `${this.name}_bucket` });
    out.push({ labels, value: series.sum, metricName: `${this.name}_sum` });
    out.push({ labels, value: series.count, metricName: `${this.name}_count` });
  }
}
