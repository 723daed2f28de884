import type { ServiceInstance } from '@meshkit/discovery';
import { CounterTracker } from './counters.ts';
import type { GaugeFact } from './facts.ts';
import { Frame } from './frame.ts';
import { counterFact, gaugeFact } from './metric-names.ts';
import type { Exposition } from './prom-text.ts';

/** A gauge of the latest scrape: what it says, and its value. */
export interface GaugeReading {
  readonly fact: GaugeFact;
  readonly value: number;
}

/** The latest gauges of one instance and how its last scrape went. */
export interface InstanceState {
  readonly instance: ServiceInstance;
  readonly counters: CounterTracker;
  gauges: readonly GaugeReading[];
  scraped: boolean;
  scrapeError: string | null;
}

/** One point of the latency history: p99 in ms per callee service. */
export interface HistoryPoint {
  readonly at: number;
  readonly p99Ms: ReadonlyMap<string, number | null>;
  readonly rates: ReadonlyMap<string, number>;
}

/**
 * What the collector knows: per instance its counter values and latest gauges; the frames of counter
 * increases inside the rate window; and a bounded latency history. Every structure is bounded: frames by
 * the rate window, history by `historyPoints`, instance state by the registry's current set.
 */
export class MeshState {
  readonly #instances = new Map<string, InstanceState>();
  readonly #frames: Frame[] = [];
  readonly #history: HistoryPoint[] = [];
  readonly #deadLetterTotals = new Map<string, number>();
  #open: Frame | undefined;
  #lastClose: number;

  /**
   * @param rateWindowMs frames older than this are dropped.
   * @param historyPoints latency points kept.
   * @param summarizePoint computes a history point from a closed frame.
   */
  readonly rateWindowMs: number;
  readonly historyPoints: number;
  readonly #summarizePoint: (frame: Frame) => HistoryPoint;

  constructor(
    rateWindowMs: number,
    historyPoints: number,
    startedAt: number,
    summarizePoint: (frame: Frame) => HistoryPoint,
  ) {
    this.rateWindowMs = rateWindowMs;
    this.historyPoints = historyPoints;
    this.#summarizePoint = summarizePoint;
    this.#lastClose = startedAt;
  }

  /** Replaces the instance set: state of instances no longer registered is dropped. */
  setInstances(instances: readonly ServiceInstance[]): void {
    const ids = new Set(instances.map((i) => i.id));
    for (const id of this.#instances.keys()) if (!ids.has(id)) this.#instances.delete(id);
    for (const instance of instances) {
      const state = this.#instances.get(instance.id);
      if (state === undefined) {
        this.#instances.set(instance.id, {
          instance,
          counters: new CounterTracker(),
          gauges: [],
          scraped: false,
          scrapeError: null,
        });
      } else if (state.instance.address !== instance.address || state.instance.port !== instance.port) {
        // The same id at a new address is a new process: its counters start over.
        this.#instances.set(instance.id, { ...state, instance, counters: new CounterTracker(), gauges: [] });
      } else {
        this.#instances.set(instance.id, { ...state, instance });
      }
    }
  }

  /** Records a successful scrape of instance `id`. */
  recordScrape(id: string, exposition: Exposition): void {
    const state = this.#instances.get(id);
    if (state === undefined) return;
    const frame = this.#openFrame();
    const source = state.instance.service;
    state.counters.update(exposition.samples, counterFact, (fact, increase) =>
      frame.add(source, fact, increase),
    );
    const gauges: GaugeReading[] = [];
    for (const sample of exposition.samples) {
      const fact = gaugeFact(sample);
      if (fact !== undefined && Number.isFinite(sample.value)) gauges.push({ fact, value: sample.value });
    }
    state.gauges = gauges;
    state.scraped = true;
    state.scrapeError = null;
  }

  /** Records a failed scrape: its gauges are no longer current. */
  recordFailure(id: string, error: string): void {
    const state = this.#instances.get(id);
    if (state === undefined) return;
    state.scraped = false;
    state.scrapeError = error;
    state.gauges = [];
  }

  /** Closes the frame of the scrapes since the last close, at `at`. */
  closeFrame(at: number): void {
    const frame = this.#openFrame();
    frame.close(at, Math.max(0, at - this.#lastClose));
    this.#open = undefined;
    this.#lastClose = at;
    this.#frames.push(frame);
    for (const [key, n] of frame.deadLetters)
      this.#deadLetterTotals.set(key, (this.#deadLetterTotals.get(key) ?? 0) + n);
    while (this.#frames.length > 0 && this.#frames[0]!.at <= at - this.rateWindowMs) this.#frames.shift();
    this.#history.push(this.#summarizePoint(frame));
    if (this.#history.length > this.historyPoints) this.#history.shift();
  }

  /** Closed frames inside the rate window, oldest first. */
  get frames(): readonly Frame[] {
    return this.#frames;
  }

  get history(): readonly HistoryPoint[] {
    return this.#history;
  }

  get instances(): ReadonlyMap<string, InstanceState> {
    return this.#instances;
  }

  /** Dead letters counted since the start, by `topic␀subscription`. */
  get deadLetterTotals(): ReadonlyMap<string, number> {
    return this.#deadLetterTotals;
  }

  #openFrame(): Frame {
    this.#open ??= new Frame();
    return this.#open;
  }
}
