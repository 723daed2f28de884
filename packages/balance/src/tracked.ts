import type { Readiness, Service } from '@meshkit/core';
import { PeakEwma } from './ewma.ts';
import { OutlierState } from './outlier.ts';
import type { BalancedEndpoint } from './picker.ts';

/**
 * The per-endpoint service `connect()` returns: any `Service`, optionally reporting its own readiness
 * (a circuit breaker that is open says `closed`, a saturated pool `busy`) and a `close()` the balancer
 * calls when the endpoint leaves the set.
 */
export type EndpointService<Req, Res> = Service<Req, Res> & {
  readiness?(): Readiness;
  close?(): void | Promise<void>;
};

/**
 * The balancer's clock reading, shared by its endpoints: refreshed once per call (and by `describe()`),
 * read by every `load()` of that call's pick.
 */
export interface TimeCell {
  now: number;
}

/** The balancer's live record of one endpoint; what pickers see as a {@link BalancedEndpoint}. */
// It extends PeakEwma (rather than holding one) so that reading an endpoint's load during a pick touches
// one object, not two: at 1,000 endpoints a pick is dominated by cache misses.
export class TrackedEndpoint<Req, Res> extends PeakEwma implements BalancedEndpoint {
  readonly id: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
  service!: EndpointService<Req, Res>;
  inFlight = 0;
  readonly outlier = new OutlierState();
  /** Set by active health checks; `true` until a check says otherwise. */
  healthy = true;
  removed = false;
  /** Active health check bookkeeping. */
  checkSuccesses = 0;
  checkFailures = 0;
  checkTimer: unknown;
  readonly #time: TimeCell;

  constructor(
    init: { id: string; address: string; labels: Readonly<Record<string, string>>; weight: number },
    time: TimeCell,
    initialRttMs: number,
    decayMs: number,
  ) {
    super(initialRttMs, decayMs, time.now);
    this.id = init.id;
    this.address = init.address;
    this.labels = init.labels;
    this.weight = init.weight;
    this.#time = time;
  }

  /** The endpoint's readiness as everyone else sees it: closed when removed, ejected or unhealthy. */
  readiness(): Readiness {
    if (this.removed || this.outlier.ejected || !this.healthy) return 'closed';
    return this.transportReadiness();
  }

  /** What the per-endpoint service says (`ready` when it does not say). */
  transportReadiness(): Readiness {
    if (this.removed) return 'closed';
    const readiness = this.service.readiness;
    return readiness === undefined ? 'ready' : readiness.call(this.service);
  }

  /**
   * Peak-EWMA latency times (in-flight + 1): the cost of sending one more call here, as of the
   * balancer's last clock reading (taken once per call, so a pick reads no clock and boxes no number).
   */
  load(): number {
    return this.read(this.#time.now) * (this.inFlight + 1);
  }
}

/**
 * Attaches readiness (and an optional `close`) to a per-endpoint service, for `connect()`. The usual
 * case is a circuit breaker in front of the transport: report `closed` while it is open, and the balancer
 * skips the endpoint before sending anything.
 *
 * @example
 * ```ts
 * import { type HttpRequest, type HttpResponse, httpTransport } from '@meshkit/http';
 * import { circuitBreaker } from '@meshkit/policies';
 *
 * balance({
 *   service: 'users',
 *   endpoints: [{ id: 'users-1', address: '10.0.0.7:8080' }],
 *   connect: (endpoint) => {
 *     const breaker = circuitBreaker<HttpRequest, HttpResponse>();
 *     const pool = httpTransport(endpoint.address);
 *     return endpointService(breaker.wrap(pool), {
 *       readiness: () => (breaker.state === 'open' || breaker.state === 'isolated' ? 'closed' : 'ready'),
 *       close: () => pool.close(),
 *     });
 *   },
 * });
 * ```
 */
export function endpointService<Req, Res>(
  service: Service<Req, Res>,
  extras: { readiness?: () => Readiness; close?: () => void | Promise<void> },
): EndpointService<Req, Res> {
  const wrapped: EndpointService<Req, Res> = (req, ctx) => service(req, ctx);
  if (extras.readiness !== undefined) wrapped.readiness = extras.readiness;
  if (extras.close !== undefined) wrapped.close = extras.close;
  return wrapped;
}
