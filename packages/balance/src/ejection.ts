import type { Clock, Endpoint, Outcome, TimerHandle } from '@meshkit/core';
import { checkFunction } from '@meshkit/core/internal';
import { balanceChannels } from './events.ts';
import { type OutlierConfig, type OutlierDetectionOptions, outlierConfig } from './outlier.ts';
import type { TrackedEndpoint } from './tracked.ts';

/** What an {@link Ejection} needs from its balancer. */
export interface EjectionParts<Req, Res> {
  /** The service's name, for events. */
  readonly name: string;
  readonly clock: Clock;
  /** Every current endpoint (the set outlier groups are drawn from). */
  readonly endpoints: () => readonly TrackedEndpoint<Req, Res>[];
  /** Called when an endpoint is ejected or returns, so the eligible list is rebuilt. */
  readonly changed: () => void;
}

/**
 * Passive outlier detection for one balancer: records each call's outcome against the endpoint's
 * outlier group (the balancer's settings, or a group of its own from `outlierDetectionFor`), ejects
 * within the group's `maxEjectionPercent`, brings ejected endpoints back when their time is up, and runs
 * each group's interval work (failure percentage, ejection-count decay) on one timer.
 */
export class Ejection<Req, Res> {
  readonly #parts: EjectionParts<Req, Res>;
  readonly #outlier: OutlierConfig | undefined;
  readonly #outlierOptions: OutlierDetectionOptions;
  readonly #outlierFor: ((endpoint: Endpoint) => OutlierDetectionOptions | undefined) | undefined;
  /** Validated per-group settings, by the options object `outlierDetectionFor` returned. */
  readonly #outlierGroups = new WeakMap<OutlierDetectionOptions, OutlierConfig>();
  /** When each group's interval work last ran. */
  readonly #sweptAt = new Map<OutlierConfig, number>();
  readonly #createdAt: number;
  #intervalMs = Infinity;
  #intervalTimer: TimerHandle | undefined;
  readonly #ejectionTimers = new Map<TrackedEndpoint<Req, Res>, TimerHandle>();
  #closed = false;

  /**
   * Checks `balance()`'s `outlierDetection` and `outlierDetectionFor` options; the interval timer starts
   * with {@link start}.
   */
  constructor(
    options: OutlierDetectionOptions | false | undefined,
    outlierFor: unknown,
    parts: EjectionParts<Req, Res>,
  ) {
    this.#parts = parts;
    this.#createdAt = parts.clock.now();
    this.#outlierOptions = options === false ? {} : (options ?? {});
    this.#outlier = options === false ? undefined : outlierConfig(options ?? {}, 'balance.outlierDetection');
    this.#outlierFor =
      outlierFor === undefined
        ? undefined
        : checkFunction<(endpoint: Endpoint) => OutlierDetectionOptions | undefined>(
            'balance.outlierDetectionFor',
            outlierFor,
          );
  }

  /** Starts the interval work when the balancer's own outlier detection is on. */
  start(): void {
    if (this.#outlier !== undefined) this.#armInterval(this.#outlier.intervalMs);
  }

  /** Records a finished call's outcome on `e`, ejecting it when a rule trips. */
  record(e: TrackedEndpoint<Req, Res>, outcome: Outcome): void {
    const config = this.#outlierOf(e);
    if (config === undefined || e.removed || e.outlier.ejected) return;
    const rule = e.outlier.record(outcome, config);
    if (rule !== undefined) this.#eject(e, rule, config);
  }

  /** `e` left the set: its pending return is cancelled. */
  forget(e: TrackedEndpoint<Req, Res>): void {
    const timer = this.#ejectionTimers.get(e);
    if (timer !== undefined) this.#parts.clock.clearTimeout(timer);
    this.#ejectionTimers.delete(e);
  }

  /** Stops the interval work. */
  close(): void {
    this.#closed = true;
    if (this.#intervalTimer !== undefined) this.#parts.clock.clearTimeout(this.#intervalTimer);
  }

  /** The outlier settings `e` is judged by: its group's, else the balancer's; `undefined` for none. */
  #outlierOf(e: TrackedEndpoint<Req, Res>): OutlierConfig | undefined {
    const own = this.#outlierFor?.(e);
    if (own === undefined) return this.#outlier;
    let config = this.#outlierGroups.get(own);
    if (config === undefined) {
      try {
        config = outlierConfig({ ...this.#outlierOptions, ...own }, 'balance.outlierDetectionFor');
      } catch {
        // Settings that do not validate leave the endpoint to the balancer's own.
        return this.#outlier;
      }
      this.#outlierGroups.set(own, config);
      if (config.intervalMs < this.#intervalMs) {
        if (this.#intervalTimer !== undefined) this.#parts.clock.clearTimeout(this.#intervalTimer);
        this.#armInterval(config.intervalMs);
      }
    }
    return config;
  }

  /** The endpoints judged by `config` (one outlier group). */
  #groupOf(config: OutlierConfig): readonly TrackedEndpoint<Req, Res>[] {
    const all = this.#parts.endpoints();
    if (this.#outlierFor === undefined) return all;
    return all.filter((x) => this.#outlierOf(x) === config);
  }

  #eject(e: TrackedEndpoint<Req, Res>, reason: string, config: OutlierConfig): void {
    const { clock, name } = this.#parts;
    const group = this.#groupOf(config);
    const ejected = group.reduce((n, x) => n + (x.outlier.ejected ? 1 : 0), 0);
    if ((ejected + 1) * 100 > config.maxEjectionPercent * group.length) return;
    const until = e.outlier.eject(clock.now(), config);
    this.#ejectionTimers.set(
      e,
      clock.setTimeout(() => {
        this.#ejectionTimers.delete(e);
        e.outlier.ejectedUntil = 0;
        if (balanceChannels.returned.hasSubscribers) {
          balanceChannels.returned.publish({ service: name, endpoint: e.id });
        }
        this.#parts.changed();
      }, until - clock.now()),
    );
    if (balanceChannels.ejected.hasSubscribers) {
      balanceChannels.ejected.publish({
        service: name,
        endpoint: e.id,
        reason,
        untilMs: until,
        ejections: e.outlier.ejections,
      });
    }
    this.#parts.changed();
  }

  /** Runs the interval work every `periodMs` (the shortest interval of any group). */
  #armInterval(periodMs: number): void {
    this.#intervalMs = periodMs;
    this.#intervalTimer = this.#parts.clock.setTimeout(() => {
      if (this.#closed) return;
      this.#sweep();
      this.#armInterval(periodMs);
    }, periodMs);
  }

  /** The interval work of every group whose own interval has passed since it last ran. */
  #sweep(): void {
    const now = this.#parts.clock.now();
    const all = this.#parts.endpoints();
    if (this.#outlierFor === undefined) {
      if (this.#outlier !== undefined) this.#evaluateInterval(this.#outlier, all);
      return;
    }
    const groups = new Map<OutlierConfig, TrackedEndpoint<Req, Res>[]>();
    for (const e of all) {
      const config = this.#outlierOf(e);
      if (config === undefined) continue;
      const members = groups.get(config);
      if (members === undefined) groups.set(config, [e]);
      else members.push(e);
    }
    for (const [config, members] of groups) {
      const last = this.#sweptAt.get(config) ?? this.#createdAt;
      if (now - last < config.intervalMs) continue;
      this.#sweptAt.set(config, now);
      this.#evaluateInterval(config, members);
    }
  }

  /** Envoy's interval work: the failure-percentage rule, then ejection counts decay for endpoints in service. */
  #evaluateInterval(config: OutlierConfig, all: readonly TrackedEndpoint<Req, Res>[]): void {
    if (config.failurePercentageThreshold > 0) {
      const judged = all.filter(
        (e) => !e.outlier.ejected && e.outlier.requests >= config.failurePercentageRequestVolume,
      );
      if (judged.length >= config.failurePercentageMinimumHosts) {
        for (const e of judged) {
          if ((e.outlier.failures * 100) / e.outlier.requests >= config.failurePercentageThreshold) {
            this.#eject(e, 'failure-percentage', config);
          }
        }
      }
    }
    for (const e of all) {
      if (!e.outlier.ejected && e.outlier.ejections > 0 && e.outlier.failures === 0) e.outlier.ejections--;
      e.outlier.requests = 0;
      e.outlier.failures = 0;
    }
  }
}
