import {
  type Clock,
  type Endpoint,
  ErrorCode,
  InvalidArgumentError,
  MeshError,
  type Probe,
  type TimerHandle,
} from '@meshkit/core';
import { checkFunction, checkInteger, checkNumber } from '@meshkit/core/internal';
import type { Random } from './picker.ts';

/**
 * Active health checking: every endpoint is probed on an interval (with jitter, so a fleet of clients
 * does not probe in lock-step); `unhealthyThreshold` consecutive failures take it out of rotation and
 * `healthyThreshold` consecutive successes bring it back. Probes for HTTP and TCP live in
 * `@meshkit/discovery` (`httpProbe`, `tcpProbe`); any function of this shape works.
 */

/** Options for active health checks. */
export interface HealthCheckOptions {
  /** The check itself, e.g. `httpProbe({ path: '/healthz' })`. */
  readonly probe: Probe<Endpoint>;
  /** Time between checks of one endpoint, in ms. Defaults to 10,000. */
  readonly intervalMs?: number;
  /** Each interval is randomly lengthened or shortened by up to this share of it (0..1). Defaults to 0.1. */
  readonly jitter?: number;
  /** A probe that has not settled after this many ms fails. Defaults to 1,000. */
  readonly timeoutMs?: number;
  /** Consecutive successes that make an unhealthy endpoint healthy. Defaults to 2. */
  readonly healthyThreshold?: number;
  /** Consecutive failures that make a healthy endpoint unhealthy. Defaults to 3. */
  readonly unhealthyThreshold?: number;
  /** Random source for the jitter. Defaults to `Math.random`. */
  readonly random?: Random;
}

/** The state the checker reads and writes on each endpoint. */
export interface CheckedEndpoint extends Endpoint {
  healthy: boolean;
  checkSuccesses: number;
  checkFailures: number;
  checkTimer: unknown;
  removed: boolean;
}

/** Runs active checks for a changing set of endpoints on one clock. */
export class HealthChecker {
  readonly #probe: Probe<Endpoint>;
  readonly #intervalMs: number;
  readonly #jitter: number;
  readonly #timeoutMs: number;
  readonly #healthyThreshold: number;
  readonly #unhealthyThreshold: number;
  readonly #random: Random;
  readonly #clock: Clock;
  readonly #onChange: (endpoint: CheckedEndpoint, error: unknown) => void;
  #stopped = false;

  constructor(
    options: HealthCheckOptions,
    field: string,
    clock: Clock,
    onChange: (endpoint: CheckedEndpoint, error: unknown) => void,
  ) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(field, 'must be an object', options);
    }
    this.#probe = checkFunction(`${field}.probe`, options.probe);
    this.#intervalMs = checkNumber(`${field}.intervalMs`, options.intervalMs ?? 10_000, 1);
    this.#jitter = checkNumber(`${field}.jitter`, options.jitter ?? 0.1, 0, 1);
    this.#timeoutMs = checkNumber(`${field}.timeoutMs`, options.timeoutMs ?? 1_000, 1);
    this.#healthyThreshold = checkInteger(`${field}.healthyThreshold`, options.healthyThreshold ?? 2, 1);
    this.#unhealthyThreshold = checkInteger(
      `${field}.unhealthyThreshold`,
      options.unhealthyThreshold ?? 3,
      1,
    );
    this.#random = checkFunction(`${field}.random`, options.random ?? Math.random);
    this.#clock = clock;
    this.#onChange = onChange;
  }

  /** Starts checking `endpoint`: the first probe runs at once, so a dead endpoint is found quickly. */
  add(endpoint: CheckedEndpoint): void {
    void this.#run(endpoint);
  }

  /** Stops checking `endpoint`. */
  remove(endpoint: CheckedEndpoint): void {
    if (endpoint.checkTimer !== undefined) this.#clock.clearTimeout(endpoint.checkTimer as TimerHandle);
    endpoint.checkTimer = undefined;
  }

  stop(): void {
    this.#stopped = true;
  }

  #schedule(endpoint: CheckedEndpoint): void {
    if (this.#stopped || endpoint.removed) return;
    const spread = this.#intervalMs * this.#jitter * (2 * this.#random() - 1);
    endpoint.checkTimer = this.#clock.setTimeout(() => {
      endpoint.checkTimer = undefined;
      void this.#run(endpoint);
    }, this.#intervalMs + spread);
  }

  async #run(endpoint: CheckedEndpoint): Promise<void> {
    if (this.#stopped || endpoint.removed) return;
    let failure: unknown;
    try {
      await this.#probeWithTimeout(endpoint);
    } catch (err) {
      failure = err ?? new Error('health probe failed');
    }
    if (this.#stopped || endpoint.removed) return;
    if (failure === undefined) {
      endpoint.checkFailures = 0;
      endpoint.checkSuccesses++;
      if (!endpoint.healthy && endpoint.checkSuccesses >= this.#healthyThreshold) {
        endpoint.healthy = true;
        this.#onChange(endpoint, undefined);
      }
    } else {
      endpoint.checkSuccesses = 0;
      endpoint.checkFailures++;
      if (endpoint.healthy && endpoint.checkFailures >= this.#unhealthyThreshold) {
        endpoint.healthy = false;
        this.#onChange(endpoint, failure);
      }
    }
    this.#schedule(endpoint);
  }

  #probeWithTimeout(endpoint: CheckedEndpoint): Promise<void> {
    const controller = new AbortController();
    return new Promise<void>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        const err = new MeshError(ErrorCode.TIMEOUT, `health probe timed out after ${this.#timeoutMs} ms`);
        controller.abort(err);
        reject(err);
      }, this.#timeoutMs);
      let probing: Promise<void>;
      try {
        probing = this.#probe(endpoint, controller.signal);
      } catch (err) {
        probing = Promise.reject(err);
      }
      probing.then(
        () => {
          this.#clock.clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          this.#clock.clearTimeout(timer);
          reject(err);
        },
      );
    });
  }
}
