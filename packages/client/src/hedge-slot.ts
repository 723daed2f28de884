import type { Picker } from '@meshkit/balance';
import {
  type CallContext,
  contextKey,
  inheritCancelsPromptly,
  type Layer,
  type Service,
} from '@meshkit/core';

/**
 * The endpoints a hedged call's attempts are running on, by endpoint id: kept by the client pipeline's
 * endpoint services, read by {@link spreadHedges} so the next hedge goes elsewhere.
 */
export class HedgeAttempts {
  readonly #running = new Map<string, number>();

  /** An attempt of the call started on `endpointId`. */
  enter(endpointId: string): void {
    this.#running.set(endpointId, (this.#running.get(endpointId) ?? 0) + 1);
  }

  /** An attempt of the call on `endpointId` ended. */
  leave(endpointId: string): void {
    const n = (this.#running.get(endpointId) ?? 0) - 1;
    if (n <= 0) this.#running.delete(endpointId);
    else this.#running.set(endpointId, n);
  }

  /** `true` while an attempt of the call runs on `endpointId`. */
  has(endpointId: string): boolean {
    return this.#running.has(endpointId);
  }

  /** How many endpoints have an attempt of the call running. */
  get size(): number {
    return this.#running.size;
  }
}

/** Set on a hedged call's context by the hedge slot: one record per call, shared by its attempts. */
export const hedgeAttempts = contextKey<HedgeAttempts>('meshkit.client.hedgeAttempts');

/**
 * The client pipeline's hedge slot: `hedge` for idempotent unary calls, which get a fresh
 * {@link HedgeAttempts} record in their context; every other call (non-idempotent, or any streaming
 * kind) goes straight to the layer below.
 */
export function hedgeSlot<Req, Res>(hedge: Layer<Req, Res>): Layer<Req, Res> {
  return {
    name: hedge.name,
    wrap(next: Service<Req, Res>): Service<Req, Res> {
      const hedged = hedge.wrap(next);
      return inheritCancelsPromptly(next, (req: Req, ctx: CallContext) =>
        ctx.kind === 'unary' && ctx.idempotent
          ? hedged(req, ctx.set(hedgeAttempts, new HedgeAttempts()))
          : next(req, ctx),
      );
    },
    ...(hedge.describe === undefined ? {} : { describe: () => hedge.describe!() }),
  };
}

/** Picks tried at most to find an endpoint with no attempt of the same call running. */
const maxRepicks = 8;

/**
 * Wraps the balancer's picker so that a hedge goes to an endpoint where the same call has no attempt
 * running, when the picker offers one within a few picks (round robin, random and P2C do; a hash picker
 * keeps its affinity). Calls that are not hedged pick exactly as `inner` does, with no extra work.
 */
export function spreadHedges<Req>(inner: Picker<Req>): Picker<Req> {
  return {
    name: inner.name,
    update: (endpoints) => inner.update(endpoints),
    pick(req, ctx) {
      const attempts = ctx.get(hedgeAttempts);
      let e = inner.pick(req, ctx);
      if (attempts === undefined || attempts.size === 0) return e;
      for (let i = 0; i < maxRepicks && e !== undefined && attempts.has(e.id); i++) {
        const other = inner.pick(req, ctx);
        if (other === undefined) break;
        e = other;
      }
      return e;
    },
  };
}
