import {
  type CallContext,
  channels,
  ErrorCode,
  isAbortError,
  type Layer,
  MeshError,
  readinessOf,
  type Service,
  withReadiness,
} from '@meshkit/core';
import { afterCompletion } from '../internal/completion.ts';
import { type Guard, guarded } from '../internal/pipeline.ts';
import {
  type CircuitBreakerConfig,
  type CircuitBreakerOptions,
  resolveCircuitBreakerOptions,
} from './options.ts';

export { type CircuitBreakerOptions, countsAsFailure } from './options.ts';
export {
  type BreakerStrategy,
  type ConsecutiveFailuresOptions,
  consecutiveFailures,
  type FailureRateOptions,
  failureRate,
} from './strategies.ts';

/** The states of a circuit; `isolated` is a manual open that only `reset()` ends. */
export type CircuitState = 'closed' | 'open' | 'half-open' | 'isolated';

/** A circuit breaker layer with its manual controls. */
export interface CircuitBreaker<Req, Res> extends Layer<Req, Res> {
  /** The current state (an open circuit whose wait is over reports `half-open`). */
  readonly state: CircuitState;
  /** Opens the circuit until {@link CircuitBreaker.reset}, whatever the calls do. */
  isolate(): void;
  /** Closes the circuit and forgets every count. */
  reset(): void;
  describe(): Record<string, unknown>;
}

/**
 * A circuit breaker. Closed, it passes calls and lets its strategy count outcomes; when the strategy
 * says so it opens and refuses calls with `ERR_CIRCUIT_OPEN` (`rejected: true`: nothing was sent) for
 * `halfOpenAfterMs`; then half-open, it admits up to `halfOpenProbes` probes, closing after that many
 * successes and re-opening on a failure. Concurrent callers beyond the probes are refused. State changes
 * are published on `channels.breakerState`. One breaker instance is one circuit: wrap one service with it
 * (per endpoint, usually).
 *
 * @example
 * ```ts
 * import { stack } from '@meshkit/core';
 * import { type HttpRequest, type HttpResponse, httpTransport } from '@meshkit/http';
 * const service = httpTransport('127.0.0.1:8080');
 * const breaker = circuitBreaker<HttpRequest, HttpResponse>({ strategy: failureRate({ threshold: 0.5 }), halfOpenAfterMs: 5_000 });
 * const call = stack<HttpRequest, HttpResponse>(retry(), breaker, timeout({ timeoutMs: 500 })).wrap(service);
 * breaker.describe(); // { state: 'closed', ... }
 * ```
 */
export function circuitBreaker<Req, Res>(options?: CircuitBreakerOptions): CircuitBreaker<Req, Res> {
  return new Breaker<Req, Res>(resolveCircuitBreakerOptions(options));
}

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const ISOLATED = 3;
const stateNames: readonly CircuitState[] = ['closed', 'open', 'half-open', 'isolated'];

class Breaker<Req, Res> implements CircuitBreaker<Req, Res> {
  readonly name: string;
  readonly #config: CircuitBreakerConfig;
  #state = CLOSED;
  /** Bumped on every transition, so a probe that outlived its half-open period is not counted. */
  #epoch = 0;
  #openedAt = 0;
  #probesAdmitted = 0;
  #probesSucceeded = 0;
  #rejected = 0;
  #opened = 0;

  constructor(config: CircuitBreakerConfig) {
    this.#config = config;
    this.name = config.name;
  }

  get state(): CircuitState {
    if (this.#state === OPEN && this.#waitOver()) return 'half-open';
    return stateNames[this.#state]!;
  }

  wrap(next: Service<Req, Res>): Service<Req, Res> {
    // An open circuit says so before anything is sent: a balancer skips the endpoint.
    return withReadiness(this.#wrap(next), () => {
      const state = this.state;
      return state === 'open' || state === 'isolated' ? 'closed' : readinessOf(next);
    });
  }

  #wrap(next: Service<Req, Res>): Service<Req, Res> {
    const slowCallMs = this.#config.slowCallMs;
    if (slowCallMs !== undefined) {
      const clock = this.#config.clock;
      return (req, ctx) => {
        if (this.#state !== CLOSED) return this.#notClosed(next, req, ctx);
        const start = clock.now();
        return next(req, ctx).then((value) => {
          afterCompletion(
            value,
            () => {
              if (this.#state === CLOSED) {
                if (clock.now() - start > slowCallMs) this.#failedWhileClosed();
                else this.#succeededWhileClosed();
              }
            },
            this.#closedFailure,
          );
          return value;
        }, this.#onClosedError);
      };
    }
    const layered: Service<Req, Res> = (req, ctx) => {
      if (this.#state !== CLOSED) return this.#notClosed(next, req, ctx);
      return next(req, ctx).then(this.#onClosedValue, this.#onClosedError);
    };
    return guarded(this.#guard, next, layered);
  }

  /** The closed state as a fusable guard (see internal/pipeline.ts). */
  readonly #guard: Guard<Res> = {
    canEnter: () => this.#state === CLOSED,
    enter: () => {},
    ok: () => {
      if (this.#state === CLOSED) this.#succeededWhileClosed();
    },
    err: (error: unknown) => {
      if (this.#state === CLOSED && this.#counts(error)) this.#failedWhileClosed();
    },
  };

  isolate(): void {
    this.#transition(ISOLATED);
  }

  reset(): void {
    this.#config.strategy.reset();
    this.#transition(CLOSED);
  }

  describe(): Record<string, unknown> {
    const { strategy, halfOpenAfterMs, halfOpenProbes, clock } = this.#config;
    const state = this.state;
    return {
      state,
      strategy: { name: strategy.name, ...strategy.describe() },
      halfOpenAfterMs,
      halfOpenProbes,
      probesInFlight: this.#state === HALF_OPEN ? this.#probesAdmitted - this.#probesSucceeded : 0,
      openForMs: state === 'open' ? halfOpenAfterMs - (clock.now() - this.#openedAt) : 0,
      timesOpened: this.#opened,
      rejected: this.#rejected,
    };
  }

  // Per-breaker handlers (not per call): the closed-state success path allocates no closure.
  readonly #onClosedValue = (value: Res): Res => {
    afterCompletion(value, this.#closedSuccess, this.#closedFailure);
    return value;
  };

  readonly #onClosedError = (error: unknown): never => {
    this.#closedFailure(error);
    throw error;
  };

  readonly #closedSuccess = (): void => {
    if (this.#state === CLOSED) this.#succeededWhileClosed();
  };

  readonly #closedFailure = (error: unknown): void => {
    if (this.#state === CLOSED && this.#counts(error)) this.#failedWhileClosed();
  };

  #succeededWhileClosed(): void {
    const { strategy, clock } = this.#config;
    strategy.success(strategy.timed ? clock.now() : 0);
  }

  #failedWhileClosed(): void {
    const { strategy, clock } = this.#config;
    if (strategy.failure(strategy.timed ? clock.now() : 0)) this.#transition(OPEN);
  }

  #counts(error: unknown): boolean {
    return !isAbortError(error) && this.#config.isFailure(error);
  }

  #waitOver(): boolean {
    return this.#config.clock.now() - this.#openedAt >= this.#config.halfOpenAfterMs;
  }

  #notClosed(next: Service<Req, Res>, req: Req, ctx: CallContext): Promise<Res> {
    if (this.#state === OPEN && this.#waitOver()) this.#transition(HALF_OPEN);
    if (this.#state !== HALF_OPEN || this.#probesAdmitted >= this.#config.halfOpenProbes) {
      return Promise.reject(this.#refusal());
    }
    this.#probesAdmitted++;
    const epoch = this.#epoch;
    const start = this.#config.clock.now();
    return next(req, ctx).then(
      (value) => {
        afterCompletion(
          value,
          () => {
            const slow = this.#config.slowCallMs;
            this.#probeEnded(
              epoch,
              slow !== undefined && this.#config.clock.now() - start > slow ? 'failed' : 'ok',
            );
          },
          (error) => this.#probeEnded(epoch, this.#counts(error) ? 'failed' : 'void'),
        );
        return value;
      },
      (error: unknown) => {
        this.#probeEnded(epoch, this.#counts(error) ? 'failed' : 'void');
        throw error;
      },
    );
  }

  #probeEnded(epoch: number, outcome: 'ok' | 'failed' | 'void'): void {
    if (epoch !== this.#epoch) return;
    if (outcome === 'failed') {
      this.#transition(OPEN);
    } else if (outcome === 'void') {
      this.#probesAdmitted--;
    } else if (++this.#probesSucceeded >= this.#config.halfOpenProbes) {
      this.#config.strategy.reset();
      this.#transition(CLOSED);
    }
  }

  #refusal(): MeshError {
    this.#rejected++;
    const state = this.state;
    return new MeshError(ErrorCode.CIRCUIT_OPEN, `circuit ${state} (${this.name})`, {
      retryable: true,
      rejected: true,
      details: { layer: this.name, state },
    });
  }

  #transition(to: number): void {
    const from = this.#state;
    this.#epoch++;
    this.#probesAdmitted = 0;
    this.#probesSucceeded = 0;
    if (to === OPEN) {
      this.#openedAt = this.#config.clock.now();
      this.#opened++;
    }
    this.#state = to;
    if (from !== to && channels.breakerState.hasSubscribers) {
      const target = this.#config.target;
      channels.breakerState.publish({
        layer: this.name,
        ...(target === undefined ? {} : { service: target.service, endpoint: target.endpoint }),
        from: stateNames[from]!,
        to: stateNames[to]!,
      });
    }
  }
}
