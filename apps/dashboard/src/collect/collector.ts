import { type Clock, InvalidArgumentError, systemClock } from '@meshkit/core';
import { checkInteger, checkString } from '@meshkit/core/internal';
import type { Registry, ServiceInstance } from '@meshkit/discovery';
import { formatIssue, loadRoutes, type RouteConfig } from '@meshkit/routing';
import type { DashboardSnapshot } from '../view-model.ts';
import { keySep } from './frame.ts';
import { MeshState } from './mesh-state.ts';
import { shortHost } from './routes-view.ts';
import { metricsUrl, scrape } from './scrape.ts';
import { historyPoint, summarize } from './summarize.ts';

/** Options of {@link Collector}. */
export interface CollectorOptions {
  /** Where instances are found. */
  readonly registry: Registry;
  /**
   * Services looked up on every tick. Services that scraped metrics name as callees, and hosts of the
   * routes file, are looked up too, so naming the entry points is enough. Defaults to none.
   */
  readonly services?: readonly string[];
  /** A routes file or directory (Istio YAML), read on every tick; the last valid one is kept. */
  readonly routesPath?: string;
  /** Time between scrapes, in ms. Defaults to 2,000. */
  readonly intervalMs?: number;
  /** Rates, error ratios and p99 are computed over this window, in ms (>= `intervalMs`). Defaults to 30,000 (or two intervals, if longer). */
  readonly rateWindowMs?: number;
  /** How much latency history the charts keep, in ms. Defaults to 600,000 (10 minutes; or ten intervals, if longer). */
  readonly historyMs?: number;
  /** A scrape slower than this fails, in ms. Defaults to 1,500. */
  readonly scrapeTimeoutMs?: number;
  /** A larger exposition is refused, in bytes. Defaults to 8 MiB. */
  readonly maxScrapeBytes?: number;
  /** Scrapes in flight at once. Defaults to 16. */
  readonly scrapeConcurrency?: number;
  /** Services the latency chart follows (the busiest). Defaults to 8. */
  readonly latencySeries?: number;
  /** At most this many services are looked up per tick. Defaults to 1,000. */
  readonly maxServices?: number;
  /** Time source for ticks and timestamps. Defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * Discovers every instance through the registry, scrapes its `/metrics` every `intervalMs`, and keeps
 * what the dashboard shows: rates, error ratios, p99 from histogram buckets, breaker and ejection states,
 * routes' configured and observed splits, retries, messaging. Each tick produces one
 * {@link DashboardSnapshot}, handed to every listener.
 *
 * @example
 * ```ts
 * import { embeddedRegistry } from '@meshkit/discovery';
 * const collector = new Collector({ registry: embeddedRegistry({ path: '.meshkit/registry.db' }), services: ['gateway'] });
 * collector.onSnapshot((snapshot) => console.log(snapshot.edges));
 * collector.start();
 * ```
 */
export class Collector {
  readonly #registry: Registry;
  readonly #services: readonly string[];
  readonly #routesPath: string | undefined;
  readonly #intervalMs: number;
  readonly #scrapeTimeoutMs: number;
  readonly #maxScrapeBytes: number;
  readonly #concurrency: number;
  readonly #latencySeries: number;
  readonly #maxServices: number;
  readonly #clock: Clock;
  readonly #state: MeshState;
  readonly #listeners = new Set<(snapshot: DashboardSnapshot) => void>();
  #routes: RouteConfig | undefined;
  #routeIssues: readonly string[] = [];
  #latest: DashboardSnapshot;
  #timer: ReturnType<Clock['setTimeout']> | undefined;
  #running = false;
  #ticking: Promise<DashboardSnapshot> | undefined;

  constructor(options: CollectorOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('collector.options', 'must be an object', options);
    }
    if (options.registry === null || typeof options.registry?.lookup !== 'function') {
      throw new InvalidArgumentError('collector.registry', 'must be a Registry', options.registry);
    }
    this.#registry = options.registry;
    this.#services = (options.services ?? []).map((s, i) => checkString(`collector.services[${i}]`, s));
    this.#routesPath =
      options.routesPath === undefined ? undefined : checkString('collector.routesPath', options.routesPath);
    this.#intervalMs = checkInteger('collector.intervalMs', options.intervalMs ?? 2_000, 10);
    const rateWindowMs = checkInteger(
      'collector.rateWindowMs',
      options.rateWindowMs ?? Math.max(30_000, 2 * this.#intervalMs),
      this.#intervalMs,
    );
    const historyMs = checkInteger(
      'collector.historyMs',
      options.historyMs ?? Math.max(600_000, 10 * this.#intervalMs),
      this.#intervalMs,
    );
    this.#scrapeTimeoutMs = checkInteger('collector.scrapeTimeoutMs', options.scrapeTimeoutMs ?? 1_500, 1);
    this.#maxScrapeBytes = checkInteger('collector.maxScrapeBytes', options.maxScrapeBytes ?? 8 << 20, 1);
    this.#concurrency = checkInteger('collector.scrapeConcurrency', options.scrapeConcurrency ?? 16, 1);
    this.#latencySeries = checkInteger('collector.latencySeries', options.latencySeries ?? 8, 0);
    this.#maxServices = checkInteger('collector.maxServices', options.maxServices ?? 1_000, 1);
    this.#clock = options.clock ?? systemClock;
    const historyPoints = Math.ceil(historyMs / this.#intervalMs);
    this.#state = new MeshState(rateWindowMs, historyPoints, this.#clock.now(), historyPoint);
    this.#latest = this.#summarize();
  }

  /** The last snapshot (an empty one before the first tick). */
  get latest(): DashboardSnapshot {
    return this.#latest;
  }

  /** Calls `listener` with every new snapshot; returns a function that removes it. */
  onSnapshot(listener: (snapshot: DashboardSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Ticks now, then every `intervalMs` (measured from the end of each tick) until {@link stop}. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const loop = (): void => {
      this.#timer = undefined;
      if (!this.#running) return;
      void this.tick().finally(() => {
        if (this.#running) this.#timer = this.#clock.setTimeout(loop, this.#intervalMs);
      });
    };
    loop();
  }

  /** Stops ticking; a tick in flight finishes. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#ticking?.catch(() => undefined);
  }

  /** Discovers, scrapes every instance, closes a frame and publishes the snapshot. One at a time. */
  tick(): Promise<DashboardSnapshot> {
    this.#ticking ??= this.#tick().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #tick(): Promise<DashboardSnapshot> {
    await this.#reloadRoutes();
    const instances = await this.#discover();
    this.#state.setInstances(instances);
    await this.#scrapeAll(instances);
    this.#state.closeFrame(this.#clock.now());
    this.#latest = this.#summarize();
    for (const listener of this.#listeners) {
      try {
        listener(this.#latest);
      } catch {
        // A listener's failure is its own; the others still get the snapshot.
      }
    }
    return this.#latest;
  }

  #summarize(): DashboardSnapshot {
    return summarize(this.#state, {
      at: this.#clock.now(),
      routes: this.#routes,
      routeIssues: this.#routeIssues,
      latencySeries: this.#latencySeries,
    });
  }

  async #reloadRoutes(): Promise<void> {
    if (this.#routesPath === undefined) return;
    const parsed = await loadRoutes(this.#routesPath);
    this.#routeIssues = parsed.issues.map(formatIssue);
    if (parsed.ok) this.#routes = parsed.config;
  }

  async #discover(): Promise<ServiceInstance[]> {
    const names = new Set(this.#services);
    for (const vs of this.#routes?.virtualServices ?? [])
      for (const host of vs.hosts) names.add(shortHost(host));
    for (const frame of this.#state.frames) {
      for (const key of frame.edges.keys()) names.add(key.slice(key.indexOf(keySep) + 1));
    }
    for (const s of this.#state.instances.values()) names.add(s.instance.service);
    const lookups = [...names]
      .slice(0, this.#maxServices)
      .map((name) =>
        this.#registry.lookup(name, { healthyOnly: false }).catch(() => [] as readonly ServiceInstance[]),
      );
    return (await Promise.all(lookups)).flat();
  }

  async #scrapeAll(instances: readonly ServiceInstance[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < instances.length) {
        const instance = instances[next++]!;
        const url = metricsUrl(instance);
        if (url === undefined) {
          this.#state.recordFailure(instance.id, 'no HTTP metrics endpoint');
          continue;
        }
        try {
          this.#state.recordScrape(
            instance.id,
            await scrape(url, this.#scrapeTimeoutMs, this.#maxScrapeBytes),
          );
        } catch (error) {
          this.#state.recordFailure(instance.id, (error as Error).message);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, instances.length) }, worker));
  }
}
