import type { Outcome } from '@meshkit/core';
import { InvalidArgumentError } from '@meshkit/core';
import { checkInteger, checkNumber } from '@meshkit/core/internal';

/**
 * Passive outlier detection, Envoy's model: an endpoint is ejected after too many consecutive failures
 * of a kind, or when its failure percentage over an interval is too high; it returns after an ejection
 * time that grows with each ejection; never more than `maxEjectionPercent` of the endpoints are out.
 */

/** Options for outlier detection; every field has Envoy's meaning. */
export interface OutlierDetectionOptions {
  /** Consecutive 5xx-class failures (`error`, `gateway`, `local`) that eject. Defaults to 5; 0 disables. */
  readonly consecutive5xx?: number;
  /** Consecutive gateway failures (502/503/504, UNAVAILABLE, or `local`) that eject. Defaults to 5; 0 disables. */
  readonly consecutiveGatewayFailure?: number;
  /** Consecutive connect failures, resets and timeouts (`local`) that eject. Defaults to 5; 0 disables. */
  readonly consecutiveLocalOriginFailure?: number;
  /** How often the failure percentage is evaluated and ejection counts decay, in ms. Defaults to 10,000. */
  readonly intervalMs?: number;
  /** Ejection time for a first ejection, in ms; the n-th ejection lasts n times as long. Defaults to 30,000. */
  readonly baseEjectionTimeMs?: number;
  /** Upper bound on an ejection's length, in ms. Defaults to 300,000. */
  readonly maxEjectionTimeMs?: number;
  /**
   * The most endpoints that may be ejected at once, in percent. Defaults to 50: Envoy's 10 would never
   * eject anything in the 3-to-9-instance services most meshes run.
   */
  readonly maxEjectionPercent?: number;
  /** Failure percentage in an interval that ejects. Defaults to 85; 0 disables the rule. */
  readonly failurePercentageThreshold?: number;
  /** Endpoints that must have enough volume before the percentage rule applies. Defaults to 5. */
  readonly failurePercentageMinimumHosts?: number;
  /** Calls an endpoint needs in the interval to be judged by percentage. Defaults to 50. */
  readonly failurePercentageRequestVolume?: number;
}

/** Validated outlier settings. */
export interface OutlierConfig {
  readonly consecutive5xx: number;
  readonly consecutiveGatewayFailure: number;
  readonly consecutiveLocalOriginFailure: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionTimeMs: number;
  readonly maxEjectionPercent: number;
  readonly failurePercentageThreshold: number;
  readonly failurePercentageMinimumHosts: number;
  readonly failurePercentageRequestVolume: number;
}

/** Checks and fills outlier options; `field` prefixes the names in errors. */
export function outlierConfig(options: OutlierDetectionOptions, field: string): OutlierConfig {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(field, 'must be an object or false', options);
  }
  const config: OutlierConfig = {
    consecutive5xx: checkInteger(`${field}.consecutive5xx`, options.consecutive5xx ?? 5, 0),
    consecutiveGatewayFailure: checkInteger(
      `${field}.consecutiveGatewayFailure`,
      options.consecutiveGatewayFailure ?? 5,
      0,
    ),
    consecutiveLocalOriginFailure: checkInteger(
      `${field}.consecutiveLocalOriginFailure`,
      options.consecutiveLocalOriginFailure ?? 5,
      0,
    ),
    intervalMs: checkNumber(`${field}.intervalMs`, options.intervalMs ?? 10_000, 1),
    baseEjectionTimeMs: checkNumber(`${field}.baseEjectionTimeMs`, options.baseEjectionTimeMs ?? 30_000, 1),
    maxEjectionTimeMs: checkNumber(`${field}.maxEjectionTimeMs`, options.maxEjectionTimeMs ?? 300_000, 1),
    maxEjectionPercent: checkNumber(`${field}.maxEjectionPercent`, options.maxEjectionPercent ?? 50, 0, 100),
    failurePercentageThreshold: checkNumber(
      `${field}.failurePercentageThreshold`,
      options.failurePercentageThreshold ?? 85,
      0,
      100,
    ),
    failurePercentageMinimumHosts: checkInteger(
      `${field}.failurePercentageMinimumHosts`,
      options.failurePercentageMinimumHosts ?? 5,
      1,
    ),
    failurePercentageRequestVolume: checkInteger(
      `${field}.failurePercentageRequestVolume`,
      options.failurePercentageRequestVolume ?? 50,
      1,
    ),
  };
  if (config.maxEjectionTimeMs < config.baseEjectionTimeMs) {
    throw new InvalidArgumentError(
      `${field}.maxEjectionTimeMs`,
      `must be >= baseEjectionTimeMs (${config.baseEjectionTimeMs})`,
      config.maxEjectionTimeMs,
    );
  }
  return config;
}

/** Per-endpoint outlier state. */
export class OutlierState {
  consecutive5xx = 0;
  consecutiveGateway = 0;
  consecutiveLocal = 0;
  requests = 0;
  failures = 0;
  /** Times ejected, decayed by one per healthy interval; scales the next ejection time. */
  ejections = 0;
  /** Epoch ms when the current ejection ends, or 0 when not ejected. */
  ejectedUntil = 0;

  /**
   * Records one outcome and returns the rule it tripped (`consecutive-5xx`, ...), or `undefined`.
   */
  record(outcome: Outcome, config: OutlierConfig): string | undefined {
    if (outcome === 'ignore') return undefined;
    this.requests++;
    if (outcome === 'success') {
      this.consecutive5xx = 0;
      this.consecutiveGateway = 0;
      this.consecutiveLocal = 0;
      return undefined;
    }
    this.failures++;
    this.consecutive5xx++;
    if (outcome === 'gateway' || outcome === 'local') this.consecutiveGateway++;
    else this.consecutiveGateway = 0;
    if (outcome === 'local') this.consecutiveLocal++;
    else this.consecutiveLocal = 0;
    if (
      config.consecutiveLocalOriginFailure > 0 &&
      this.consecutiveLocal >= config.consecutiveLocalOriginFailure
    )
      return 'consecutive-local-origin-failure';
    if (config.consecutiveGatewayFailure > 0 && this.consecutiveGateway >= config.consecutiveGatewayFailure)
      return 'consecutive-gateway-failure';
    if (config.consecutive5xx > 0 && this.consecutive5xx >= config.consecutive5xx) return 'consecutive-5xx';
    return undefined;
  }

  /** Starts an ejection at `now`; returns its end. */
  eject(now: number, config: OutlierConfig): number {
    this.ejections++;
    const length = Math.min(config.baseEjectionTimeMs * this.ejections, config.maxEjectionTimeMs);
    this.ejectedUntil = now + length;
    this.consecutive5xx = 0;
    this.consecutiveGateway = 0;
    this.consecutiveLocal = 0;
    return this.ejectedUntil;
  }

  get ejected(): boolean {
    return this.ejectedUntil !== 0;
  }
}
