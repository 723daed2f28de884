import { channels, ErrorCode, type Layer, MeshError, type Service, sleep } from '@meshkit/core';
import { toAbortError } from '../internal/errors.ts';
import { type RateLimitConfig, type RateLimitOptions, resolveRateLimitOptions } from './options.ts';

export type { RateLimitOptions } from './options.ts';

/** A rate limiter layer; `tokens` is the live bucket level. */
export interface RateLimiter<Req, Res> extends Layer<Req, Res> {
  readonly tokens: number;
  describe(): Record<string, unknown>;
}

/**
 * A client-side rate limiter: a token bucket of `burst` tokens refilled at `ratePerSec`. A call that
 * finds no token is refused with `ERR_RATE_LIMITED` (`rejected: true`, with `details.retryAfterMs` for
 * when a token will be there, which `retry()` honours), or, with `waitUpToMs`, waits its turn when that is
 * soon enough and within its deadline. A waiting call that is cancelled gives its token back. All
 * services wrapped by one instance share its bucket.
 *
 * @example
 * ```ts
 * import { stack } from '@meshkit/core';
 * import { type HttpRequest, type HttpResponse, httpTransport } from '@meshkit/http';
 * const api = httpTransport('127.0.0.1:8080');
 * const call = stack<HttpRequest, HttpResponse>(
 *   rateLimit({ ratePerSec: 50, burst: 10, waitUpToMs: 100 }),
 *   timeout({ timeoutMs: 500 }),
 * ).wrap(api);
 * ```
 */
export function rateLimit<Req, Res>(options: RateLimitOptions): RateLimiter<Req, Res> {
  return new Bucket<Req, Res>(resolveRateLimitOptions(options));
}

class Bucket<Req, Res> implements RateLimiter<Req, Res> {
  readonly name: string;
  readonly #config: RateLimitConfig;
  readonly #perMs: number;
  #tokens: number;
  #refilledAt: number;
  #refused = 0;

  constructor(config: RateLimitConfig) {
    this.#config = config;
    this.name = config.name;
    this.#perMs = config.ratePerSec / 1000;
    this.#tokens = config.burst;
    this.#refilledAt = config.clock.now();
  }

  get tokens(): number {
    this.#refill(this.#config.clock.now());
    return this.#tokens;
  }

  wrap(next: Service<Req, Res>): Service<Req, Res> {
    return (req, ctx) => {
      const now = this.#config.clock.now();
      this.#refill(now);
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return next(req, ctx);
      }
      // Tokens below zero are reservations of earlier waiters: later callers queue behind them.
      const waitMs = Math.ceil((1 - this.#tokens) / this.#perMs);
      const fitsDeadline = ctx.deadline === undefined || now + waitMs < ctx.deadline;
      if (waitMs > this.#config.waitUpToMs || !fitsDeadline) return Promise.reject(this.#refusal(waitMs));
      this.#tokens -= 1;
      // The call waits for its token: the timer keeps the process alive.
      return sleep(this.#config.clock, waitMs, ctx.signal, { ref: true }).then(
        () => next(req, ctx),
        (reason: unknown) => {
          this.#tokens += 1;
          throw toAbortError(reason);
        },
      );
    };
  }

  describe(): Record<string, unknown> {
    const { ratePerSec, burst, waitUpToMs } = this.#config;
    return { ratePerSec, burst, waitUpToMs, tokens: Math.floor(this.tokens), refused: this.#refused };
  }

  #refill(now: number): void {
    const elapsed = now - this.#refilledAt;
    if (elapsed <= 0) return;
    this.#refilledAt = now;
    this.#tokens = Math.min(this.#config.burst, this.#tokens + elapsed * this.#perMs);
  }

  #refusal(retryAfterMs: number): MeshError {
    this.#refused++;
    if (channels.rateLimited.hasSubscribers) channels.rateLimited.publish({ layer: this.name, retryAfterMs });
    return new MeshError(ErrorCode.RATE_LIMITED, `rate limited (${this.name}): retry in ${retryAfterMs} ms`, {
      retryable: true,
      rejected: true,
      details: { layer: this.name, retryAfterMs },
    });
  }
}
