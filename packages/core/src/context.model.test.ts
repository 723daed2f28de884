import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FakeClock } from './clock.ts';
import { type CallContext, createContext } from './context.ts';

/**
 * A model test of `CallContext`: random trees of derived contexts (plain children, shrunk deadlines,
 * cancellation scopes), random listeners added and removed, random cancels and an external abort,
 * checked after every step against a plain model: the deadline only shrinks, an abort reaches every
 * descendant and nothing else, each listener runs at most once with the first reason that reached it,
 * a removed listener never runs, and once every listener is gone the caller's signal holds none.
 */

type Op =
  | {
      readonly t: 'derive';
      readonly from: number;
      readonly how: 'attempt' | 'deadline' | 'scope' | 'scopeDeadline';
      readonly ms: number;
    }
  | { readonly t: 'listen'; readonly node: number }
  | { readonly t: 'unlisten'; readonly listener: number }
  | { readonly t: 'cancel'; readonly node: number }
  | { readonly t: 'abortExternal' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    t: fc.constant('derive' as const),
    from: fc.nat(),
    how: fc.constantFrom('attempt' as const, 'deadline' as const, 'scope' as const, 'scopeDeadline' as const),
    ms: fc.integer({ min: 0, max: 1_000 }),
  }),
  fc.record({ t: fc.constant('listen' as const), node: fc.nat() }),
  fc.record({ t: fc.constant('unlisten' as const), listener: fc.nat() }),
  fc.record({ t: fc.constant('cancel' as const), node: fc.nat() }),
  fc.constant({ t: 'abortExternal' as const }),
);

interface ModelNode {
  readonly ctx: CallContext;
  readonly deadline: number | undefined;
  /** Index of the node owning this node's cancellation scope, or -1 for the caller's signal. */
  readonly scope: number;
  /** On a scope owner: the enclosing scope (-1 for the caller's signal) and its cancel. */
  readonly parentScope?: number;
  readonly cancel?: (reason: unknown) => void;
}

interface ModelListener {
  readonly node: number;
  readonly calls: unknown[];
  /** The reasons the model expects, at most one. */
  readonly expected: unknown[];
  removed: boolean;
  readonly remove: () => void;
}

/** Runs queued microtasks (listeners of an already aborted scope run in one). */
const drain = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('CallContext model', () => {
  it('matches the model under random derivations, listeners, cancels and aborts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 100, max: 2_000 }),
        fc.array(op, { maxLength: 60 }),
        async (rootMs, ops) => {
          const clock = new FakeClock();
          const external = new AbortController();
          const t0 = clock.now();
          const nodes: ModelNode[] = [
            {
              ctx: createContext({ clock, signal: external.signal, timeoutMs: rootMs }),
              deadline: t0 + rootMs,
              scope: -1,
            },
          ];
          const listeners: ModelListener[] = [];
          /** Abort reason per scope owner (by index; -1 = the caller's signal), in the order they aborted. */
          const aborted = new Map<number, unknown>();

          const reasonOf = (node: number): { aborted: boolean; reason?: unknown } => {
            // Walk the scope chain; the scope that aborted first (in order of `aborted`) gives the reason.
            const chain = new Set<number>();
            let scope = nodes[node]!.scope;
            for (;;) {
              chain.add(scope);
              if (scope === -1) break;
              scope = nodes[scope]!.parentScope!;
            }
            for (const [owner, reason] of aborted) if (chain.has(owner)) return { aborted: true, reason };
            return { aborted: false };
          };
          const abortScope = (owner: number, reason: unknown) => {
            const before = nodes.map((_, i) => reasonOf(i).aborted);
            if (!aborted.has(owner)) aborted.set(owner, reason);
            for (const l of listeners) {
              if (!l.removed && !before[l.node] && reasonOf(l.node).aborted)
                l.expected.push(reasonOf(l.node).reason);
            }
          };

          for (const step of ops) {
            switch (step.t) {
              case 'derive': {
                const from = step.from % nodes.length;
                const parent = nodes[from]!;
                const at = t0 + step.ms;
                const shrink = () => (parent.deadline === undefined ? at : Math.min(parent.deadline, at));
                if (step.how === 'attempt') {
                  nodes.push({
                    ctx: parent.ctx.with({ attempt: parent.ctx.attempt + 1 }),
                    deadline: parent.deadline,
                    scope: parent.scope,
                  });
                } else if (step.how === 'deadline') {
                  nodes.push({ ctx: parent.ctx.withDeadline(at), deadline: shrink(), scope: parent.scope });
                } else {
                  const handle = step.how === 'scope' ? parent.ctx.withCancel() : parent.ctx.withCancel(at);
                  const index = nodes.length;
                  nodes.push({
                    ctx: handle.ctx,
                    deadline: step.how === 'scope' ? parent.deadline : shrink(),
                    scope: index,
                    parentScope: parent.scope,
                    cancel: handle.cancel,
                  });
                }
                break;
              }
              case 'listen': {
                const node = step.node % nodes.length;
                const calls: unknown[] = [];
                const state = reasonOf(node);
                const remove = nodes[node]!.ctx.onAbort((reason) => calls.push(reason));
                listeners.push({
                  node,
                  calls,
                  expected: state.aborted ? [state.reason] : [],
                  removed: false,
                  remove,
                });
                break;
              }
              case 'unlisten': {
                if (listeners.length === 0) break;
                const l = listeners[step.listener % listeners.length]!;
                // A listener of an already aborted scope may have been queued: let it run before removing.
                await drain();
                l.remove();
                l.removed = true;
                break;
              }
              case 'cancel': {
                const node = step.node % nodes.length;
                const n = nodes[node]!;
                if (n.cancel === undefined) break;
                const reason = new Error(`cancel ${node}`);
                abortScope(node, reason);
                n.cancel(reason);
                break;
              }
              case 'abortExternal': {
                const reason = new Error('external');
                if (!external.signal.aborted) {
                  abortScope(-1, reason);
                  external.abort(reason);
                }
                break;
              }
            }
            await drain();
            for (let i = 0; i < nodes.length; i++) {
              const n = nodes[i]!;
              const model = reasonOf(i);
              assert.equal(n.ctx.deadline, n.deadline, `deadline of node ${i}`);
              assert.equal(n.ctx.aborted, model.aborted, `aborted of node ${i}`);
              if (model.aborted) assert.equal(n.ctx.abortReason, model.reason, `reason of node ${i}`);
            }
            for (const l of listeners) assert.deepEqual(l.calls, l.expected, `listener on node ${l.node}`);
          }

          for (const n of nodes) {
            assert.ok(
              n.ctx.deadline !== undefined && n.ctx.deadline <= t0 + rootMs,
              'a deadline never grows',
            );
          }
          for (const l of listeners) if (!l.removed) l.remove();
          if (!external.signal.aborted) {
            assert.equal(
              getEventListeners(external.signal, 'abort').length,
              0,
              "the caller's signal holds no listener",
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
