import type { Registry } from 'prom-client';

/** One sample of a metric family: a series' labels and value. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/** Every sample on `registry` whose name is `name` (histograms: `x_count`, `x_sum`, `x_bucket`). */
export async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const out: Sample[] = [];
  for (const family of await registry.getMetricsAsJSON()) {
    for (const v of family.values as {
      metricName?: string;
      labels: Record<string, string | number>;
      value: number;
    }[]) {
      const sampleName = v.metricName ?? family.name;
      if (sampleName === name) out.push({ name: sampleName, labels: v.labels, value: v.value });
    }
  }
  return out;
}

/** The sum of the samples named `name` whose labels include `match`. */
export async function total(
  registry: Registry,
  name: string,
  match: Readonly<Record<string, string>> = {},
): Promise<number> {
  let sum = 0;
  for (const s of await samples(registry, name)) {
    if (Object.entries(match).every(([k, v]) => String(s.labels[k]) === v)) sum += s.value;
  }
  return sum;
}
