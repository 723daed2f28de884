import {
  type CallContext,
  channels,
  ErrorCode,
  type Layer,
  MeshError,
  readinessOf,
  type Service,
  withReadiness,
} from '@meshkit/core';
import { afterCompletion } from '../internal/completion.ts';
import { toAbortError } from '../internal/errors.ts';
import { type Guard, guarded } from '../internal/pipeline.ts';
import { type BulkheadConfig, type BulkheadOptions, resolveBulkheadOptions } from './options.ts';

export type { BulkheadOptions } from './options.ts';

/** A bulkhead layer; `active` and `queued` are live counts. */
export interface Bulkhead<Req, Res> extends Layer<Req, Res> {
  readonly active: number;
  readonly queued: number;
  describe(): Record<string, unknown>;
}

/**
 * Limits how many calls run at once. Calls beyond `maxConcurrent` wait in a FIFO queue of at most
 * `maxQueue`; beyond that they are refused with `ERR_BULKHEAD_FULL` (`rejected: true`, nothing was sent)
 * and `channels.bulkheadRejected` reports it. A queued call whose context is cancelled leaves the queue
 * at once with an `AbortError`. All services wrapped by one instance share its slots.
 *
 * @example
 * ```ts
 * import { stack } from '@meshkit/core';
 * import { type HttpRequest, type HttpResponse, httpTransport } from '@meshkit/http';
 * const service = httpTransport('127.0.0.1:8080');
 * const call = stack<HttpRequest, HttpResponse>(retry(), bulkhead({ maxConcurrent: 32, maxQueue: 64 })).wrap(service);
 * ```
 */
export function bulkhead<Req, Res>(options?: BulkheadOptions): Bulkhead<Req, Res> {
  return new BulkheadLayer<Req, Res>(resolveBulkheadOptions(options));
}

interface Waiter<Req, Res> {
  readonly next: Service<Req, Res>;
  readonly req: Req;
  readonly ctx: CallContext;
  readonly resolve: (value: Promise<Res>) => void;
  readonly onAbort: () => void;
  cancelled: boolean;
}

class BulkheadLayer<Req, Res> implements Bulkhead<Req, Res> {
  readonly name: string;
  readonly #config: BulkheadConfig;
  #active = 0;
  #queue: (Waiter<Req, Res> | undefined)[] = [];
  #head = 0;
  #queued = 0;
  #rejected = 0;

  constructor(config: BulkheadConfig) {
    this.#config = config;
    this.name = config.name;
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#queued;
  }

  wrap(next: Service<Req, Res>): Service<Req, Res> {
    const max = this.#config.maxConcurrent;
    const layered: Service<Req, Res> = (req, ctx) => {
      if (this.#active >= max) return this.#enqueue(next, req, ctx);
      this.#active++;
      return this.#run(next, req, ctx);
    };
    // Full: a call would wait in the queue, so a balancer prefers an endpoint with a free slot.
    return withReadiness(guarded(this.#guard, next, layered), () =>
      this.#active >= max ? 'busy' : readinessOf(next),
    );
  }

  /** A free slot as a fusable guard (see internal/pipeline.ts). */
  readonly #guard: Guard<Res> = {
    canEnter: () => this.#active < this.#config.maxConcurrent,
    enter: () => {
      this.#active++;
    },
    ok: () => this.#release(),
    err: () => this.#release(),
  };

  describe(): Record<string, unknown> {
    const { maxConcurrent, maxQueue } = this.#config;
    return { maxConcurrent, maxQueue, active: this.#active, queued: this.#queued, rejected: this.#rejected };
  }

  #run(next: Service<Req, Res>, req: Req, ctx: CallContext): Promise<Res> {
    let work: Promise<Res>;
    try {
      work = next(req, ctx);
    } catch (error) {
      this.#release();
      return Promise.reject(error);
    }
    return work.then(this.#onValue, this.#onError);
  }

  // Per-bulkhead handlers, not per call: the success path allocates no closure.
  readonly #onValue = (value: Res): Res => {
    afterCompletion(value, this.#releaseSlot, this.#releaseSlot);
    return value;
  };

  readonly #releaseSlot = (): void => this.#release();

  readonly #onError = (error: unknown): never => {
    this.#release();
    throw error;
  };

  /** Hands the slot to the oldest live waiter, or frees it. */
  #release(): void {
    if (this.#queued === 0) {
      this.#active--;
      return;
    }
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const waiter = queue[this.#head]!;
      queue[this.#head++] = undefined;
      if (waiter.cancelled) continue;
      this.#queued--;
      this.#compact();
      waiter.ctx.signal.removeEventListener('abort', waiter.onAbort);
      waiter.resolve(this.#run(waiter.next, waiter.req, waiter.ctx));
      return;
    }
    this.#compact();
    this.#active--;
  }

  #enqueue(next: Service<Req, Res>, req: Req, ctx: CallContext): Promise<Res> {
    if (this.#queued >= this.#config.maxQueue) {
      this.#rejected++;
      if (channels.bulkheadRejected.hasSubscribers) {
        const target = this.#config.target;
        channels.bulkheadRejected.publish({
          layer: this.name,
          ...(target === undefined ? {} : { service: target.service, endpoint: target.endpoint }),
          active: this.#active,
          queued: this.#queued,
        });
      }
      return Promise.reject(
        new MeshError(ErrorCode.BULKHEAD_FULL, `bulkhead full (${this.name})`, {
          retryable: true,
          rejected: true,
          details: { layer: this.name, active: this.#active, queued: this.#queued },
        }),
      );
    }
    if (ctx.aborted) return Promise.reject(toAbortError(ctx.abortReason));
    return new Promise<Res>((resolve, reject) => {
      const signal = ctx.signal;
      const waiter: Waiter<Req, Res> = {
        next,
        req,
        ctx,
        resolve,
        cancelled: false,
        onAbort: () => {
          waiter.cancelled = true;
          // With nobody left waiting, drop the cancelled entries now rather than at the next release.
          if (--this.#queued === 0) {
            this.#queue = [];
            this.#head = 0;
          }
          reject(toAbortError(signal.reason));
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.push(waiter);
      this.#queued++;
    });
  }

  #compact(): void {
    const queue = this.#queue;
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
