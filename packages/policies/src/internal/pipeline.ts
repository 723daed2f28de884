import { type CallContext, completionOf, inheritCancelsPromptly, type Service } from '@meshkit/core';

/**
 * Fusion of adjacent policy layers on the success path.
 *
 * Layered naively, `stack(timeout, retry, circuitBreaker, bulkhead)` chains one `.then` per layer: four
 * promises and four microtask hops per call, more than the call itself costs. So a policy's service also
 * carries a {@link Pipeline}: a description of its fast path (a synchronous admission check, then the
 * inner service, then settle hooks) that the layer above can run inline, in its own single `.then`.
 * When an admission check fails (circuit not closed, bulkhead full, events observed, ...), the layer
 * above falls back to calling the service normally, which takes each layer's full path. Behaviour is
 * the same either way; only the number of promises differs.
 */

export const pipelineKey: unique symbol = Symbol('meshkit.policies.pipeline');

/** The fast path of a policy service, for the layer above to run inline. */
export interface Pipeline<Req, Res> {
  /** `true` when `settleErr` may return a recovery (a retry); such a pipeline cannot be nested further. */
  readonly recovers: boolean;
  /** The service the fast path calls. */
  readonly inner: Service<Req, Res>;
  /** Admits the call on the fast path (and takes what admission takes), or `false` with no side effect. */
  tryEnter(): boolean;
  /** Runs the settle hooks of a success of `inner`. */
  settleOk(value: Res): void;
  /** Runs the settle hooks of a failure of `inner`; returns a recovery to adopt, or `undefined` to fail. */
  settleErr(error: unknown, req: Req, ctx: CallContext): Promise<Res> | undefined;
}

/** The pipeline `service` carries, if it is a policy service. */
export function pipelineOf<Req, Res>(service: Service<Req, Res>): Pipeline<Req, Res> | undefined {
  return (service as { [pipelineKey]?: Pipeline<Req, Res> })[pipelineKey];
}

/** Attaches `pipeline` to `service` and returns the service. */
export function withPipeline<Req, Res>(
  service: Service<Req, Res>,
  pipeline: Pipeline<Req, Res>,
): Service<Req, Res> {
  Object.defineProperty(service, pipelineKey, { value: pipeline });
  return service;
}

/** Starts `inner`, turning a synchronous throw into a rejection. */
export function start<Req, Res>(inner: Service<Req, Res>, req: Req, ctx: CallContext): Promise<Res> {
  try {
    return inner(req, ctx);
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * An admission-and-observe stage: a circuit breaker in the closed state, a bulkhead with a free slot.
 * `canEnter` has no side effect; `enter` takes the admission; exactly one of `ok`/`err` follows.
 */
export interface Guard<Res> {
  canEnter(): boolean;
  enter(): void;
  ok(value: Res): void;
  err(error: unknown): void;
}

/**
 * Adjacent guards over one inner service, settled in one `.then` (innermost guard first).
 *
 * The first two guards sit in fields of their own and are called from separate call sites: a loop
 * over the array calls every guard from one site, which the optimizing compiler then cannot inline,
 * and that cost a breaker-plus-bulkhead call about 45 ns (60% of the call) on Node 24. A stack rarely
 * has more than two guards in a row; any beyond them run in the loop.
 */
export class GuardChain<Req, Res> implements Pipeline<Req, Res> {
  readonly recovers = false;
  /** All guards, outermost first. */
  readonly guards: readonly Guard<Res>[];
  readonly inner: Service<Req, Res>;
  readonly #first: Guard<Res>;
  readonly #second: Guard<Res> | undefined;
  /** Guards after the second, if any (rarely). */
  readonly #more: readonly Guard<Res>[] | undefined;

  constructor(guards: readonly Guard<Res>[], inner: Service<Req, Res>) {
    const first = guards[0];
    if (first === undefined) throw new Error('a guard chain needs at least one guard');
    this.guards = guards;
    this.inner = inner;
    this.#first = first;
    this.#second = guards[1];
    this.#more = guards.length > 2 ? guards.slice(2) : undefined;
  }

  tryEnter(): boolean {
    const first = this.#first;
    const second = this.#second;
    const more = this.#more;
    if (!first.canEnter() || (second !== undefined && !second.canEnter())) return false;
    if (more !== undefined && !canEnterAll(more)) return false;
    first.enter();
    second?.enter();
    if (more !== undefined) for (const guard of more) guard.enter();
    return true;
  }

  settleOk(value: Res): void {
    // A streamed result holds its guards (a bulkhead slot, a breaker's outcome) until the stream ends.
    const completion = completionOf(value);
    if (completion !== undefined) {
      completion.onDone((error) => (error === undefined ? this.#settleOkNow(value) : this.settleErr(error)));
      return;
    }
    this.#settleOkNow(value);
  }

  #settleOkNow(value: Res): void {
    const more = this.#more;
    if (more !== undefined) for (let i = more.length - 1; i >= 0; i--) more[i]!.ok(value);
    this.#second?.ok(value);
    this.#first.ok(value);
  }

  settleErr(error: unknown): undefined {
    const more = this.#more;
    if (more !== undefined) for (let i = more.length - 1; i >= 0; i--) more[i]!.err(error);
    this.#second?.err(error);
    this.#first.err(error);
    return undefined;
  }

  readonly onOk = (value: Res): Res => {
    this.settleOk(value);
    return value;
  };

  readonly onErr = (error: unknown): never => {
    this.settleErr(error);
    throw error;
  };
}

function canEnterAll(guards: readonly Guard<unknown>[]): boolean {
  for (const guard of guards) if (!guard.canEnter()) return false;
  return true;
}

/**
 * The service of a guard layer over `next`: the fused fast path (this guard and every guard directly
 * below it, in one `.then`), falling back to `layered`, the layer's own full path, when any guard
 * cannot admit the call at once.
 */
export function guarded<Req, Res>(
  guard: Guard<Res>,
  next: Service<Req, Res>,
  layered: Service<Req, Res>,
): Service<Req, Res> {
  const below = pipelineOf(next);
  const chain =
    below instanceof GuardChain
      ? new GuardChain<Req, Res>([guard, ...below.guards], below.inner)
      : new GuardChain<Req, Res>([guard], next);
  const inner = chain.inner;
  const service = withPipeline((req: Req, ctx: CallContext): Promise<Res> => {
    if (!chain.tryEnter()) return layered(req, ctx);
    return start(inner, req, ctx).then(chain.onOk, chain.onErr);
  }, chain);
  // A guard adds no wait that ignores cancellation (a bulkhead's queue listens for it).
  return inheritCancelsPromptly(next, service);
}
