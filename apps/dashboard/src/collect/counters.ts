import type { Sample } from './prom-text.ts';

/** A series' identity: its name and labels, in the order the exposition wrote them. */
export function seriesKey(sample: Sample): string {
  let key = sample.name;
  for (const name in sample.labels) key += `\u0000${name}\u0001${sample.labels[name]}`;
  return key;
}

/**
 * Turns one instance's successive counter values into increases, as PromQL's `increase()` does between
 * two samples: a value lower than the last one is a counter reset (the process restarted), so the
 * increase is the new value itself. On the first scrape nothing is known about when the counts were
 * made, so every increase is 0 (reported, so the series is known); a series that appears in a later
 * scrape was created since the last one and counts from 0.
 */
export class CounterTracker {
  #last: Map<string, number> | undefined;

  /**
   * Calls `each(fact, increase)` for every sample `read` maps to a fact, and remembers the values.
   */
  update<F>(
    samples: readonly Sample[],
    read: (sample: Sample) => F | undefined,
    each: (fact: F, increase: number) => void,
  ): void {
    const previous = this.#last;
    const next = new Map<string, number>();
    for (const sample of samples) {
      if (!Number.isFinite(sample.value)) continue;
      const fact = read(sample);
      if (fact === undefined) continue;
      const key = seriesKey(sample);
      next.set(key, sample.value);
      const before = previous === undefined ? sample.value : previous.get(key);
      const increase = before === undefined || sample.value < before ? sample.value : sample.value - before;
      each(fact, increase);
    }
    this.#last = next;
  }
}
