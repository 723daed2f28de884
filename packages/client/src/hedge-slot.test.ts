import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BalancedEndpoint, type Picker, subset } from '@meshkit/balance';
import { abortError, createContext, ErrorCode, FakeClock, MeshError } from '@meshkit/core';
import { constantBackoff, RetryBudget } from '@meshkit/policies';
import { compileRoutes, parseRoutes, routing } from '@meshkit/routing';
import { clientStack } from './client-stack.ts';

/** A picker that returns the endpoints named by `script`, in order, then the last one again. */
function scripted(script: string[]): Picker<string> & { picks: string[] } {
  let list: readonly BalancedEndpoint[] = [];
  const picks: string[] = [];
  return {
    name: 'scripted',
    picks,
    update(endpoints) {
      list = endpoints;
    },
    pick() {
      const id = script.length > 1 ? script.shift()! : script[0]!;
      picks.push(id);
      return list.find((e) => e.id === id);
    },
  };
}

/**
 * Two endpoints: `slow` answers after `slowMs` (on the fake clock) unless its attempt is cancelled,
 * `fast` at once; `flaky` fails its first call with a refused-stream error, then answers.
 */
function twoEndpoints(clock: FakeClock, slowMs = 5_000) {
  const calls: string[] = [];
  const cancelled: string[] = [];
  let flakyFailed = false;
  const connect = (endpoint: { id: string }) => (req: string, ctx: ReturnType<typeof createContext>) => {
    calls.push(endpoint.id);
    if (endpoint.id === 'fast') return Promise.resolve(`${req} from fast`);
    if (endpoint.id === 'flaky') {
      if (flakyFailed) return Promise.resolve(`${req} from flaky`);
      flakyFailed = true;
      return Promise.reject(new MeshError(ErrorCode.CONNECTION_RESET, 'reset', { rejected: true }));
    }
    return new Promise<string>((resolve, reject) => {
      const timer = clock.setTimeout(() => resolve(`${req} from slow`), slowMs);
      ctx.onAbort((reason) => {
        clock.clearTimeout(timer);
        cancelled.push(endpoint.id);
        reject(abortError(reason));
      });
    });
  };
  return { calls, cancelled, connect };
}

const endpoints = ['slow', 'fast', 'flaky'].map((id) => ({ id, address: id }));

describe('clientStack hedge slot', () => {
  it('answers a hedged call from the fast endpoint, sends the hedge elsewhere, cancels the slow attempt', async () => {
    const clock = new FakeClock();
    const { calls, cancelled, connect } = twoEndpoints(clock);
    // The picker offers `slow` twice: the hedge must not go where the call already runs.
    const picker = scripted(['slow', 'slow', 'fast']);
    const pipeline = clientStack<string, string>({
      service: 'users',
      endpoints,
      connect,
      policies: { hedge: { delayMs: 50 } },
      balance: { picker },
      clock,
    });
    try {
      const result = pipeline.service('q', createContext({ clock }).with({ idempotent: true }));
      await clock.advance(50);
      assert.equal(await result, 'q from fast');
      assert.deepEqual(calls, ['slow', 'fast']);
      assert.deepEqual(picker.picks, ['slow', 'slow', 'fast'], 'the repeated pick of slow was skipped');
      assert.deepEqual(cancelled, ['slow'], 'the losing attempt was cancelled');
      const described = pipeline.describe() as {
        layers: { name: string }[];
        hedge: { maxHedges: number; delayMs: number; budget: { name: string } };
      };
      assert.deepEqual(
        described.layers.map((l) => l.name),
        ['deadline', 'hedge', 'retry'],
      );
      assert.equal(described.hedge.maxHedges, 1);
      assert.equal(described.hedge.delayMs, 50);
      assert.equal(described.hedge.budget.name, 'retry-budget', 'the budget retries use');
    } finally {
      await pipeline.close();
    }
  });

  it('never hedges a call that is not idempotent, nor a streaming one', async () => {
    const clock = new FakeClock();
    const { calls, connect } = twoEndpoints(clock, 100);
    const pipeline = clientStack<string, string>({
      service: 'users',
      endpoints,
      connect,
      policies: { hedge: { delayMs: 10 } },
      balance: { picker: scripted(['slow']) },
      clock,
    });
    try {
      const plain = pipeline.service('post', createContext({ clock }).with({ idempotent: false }));
      const streamed = pipeline.service(
        'watch',
        createContext({ clock }).with({ idempotent: true, kind: 'server-stream' }),
      );
      await clock.advance(100);
      assert.equal(await plain, 'post from slow');
      assert.equal(await streamed, 'watch from slow');
      assert.deepEqual(calls, ['slow', 'slow']);
    } finally {
      await pipeline.close();
    }
  });

  it('spends the budget retries spend: once retries drained it, no hedge goes out', async () => {
    const run = async (drainFirst: boolean): Promise<string[]> => {
      const clock = new FakeClock();
      const { calls, connect } = twoEndpoints(clock, 100);
      // One token in reserve, nothing earned per call: whoever takes it first leaves none.
      const budget = new RetryBudget({ clock, percentCanRetry: 0, minRetriesPerSec: 0.1 });
      const pipeline = clientStack<string, string>({
        service: 'users',
        endpoints,
        connect,
        policies: { hedge: { delayMs: 10 }, budget, retry: { backoff: constantBackoff(0) } },
        balance: { picker: scripted(drainFirst ? ['flaky', 'fast', 'slow', 'fast'] : ['slow', 'fast']) },
        clock,
      });
      try {
        if (drainFirst) {
          // A refused attempt retried (on another endpoint): the retry takes the budget's only token.
          assert.equal(await pipeline.service('a', createContext({ clock })), 'a from fast');
          assert.equal(budget.balance, 0);
        }
        const result = pipeline.service('b', createContext({ clock }).with({ idempotent: true }));
        await clock.advance(100);
        await result;
        return calls.filter((id) => id !== 'flaky');
      } finally {
        await pipeline.close();
      }
    };
    assert.deepEqual(await run(false), ['slow', 'fast'], 'with the token left, the call is hedged');
    assert.deepEqual(await run(true), ['fast', 'slow'], 'the retry spent it: no hedge');
  });

  it("hedges routed calls too: between the route's deadline and its retries, within the route's subset", async () => {
    const clock = new FakeClock();
    const { calls, cancelled, connect } = twoEndpoints(clock);
    const { config } = parseRoutes(
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: users }
spec:
  hosts: [users]
  http:
    - timeout: 2s
      retries: { attempts: 1, retryOn: reset }
      route: [{ destination: { host: users, subset: v1 } }]
`,
      'users.yaml',
    );
    const pipeline = clientStack<string, string>({
      service: 'users',
      endpoints: endpoints.map((e) => ({ ...e, labels: { version: e.id === 'flaky' ? 'v2' : 'v1' } })),
      connect,
      route: routing({
        routes: compileRoutes(config),
        host: 'users',
        adapter: { view: (path: string) => ({ method: 'GET', path, headers: {} }) },
      }),
      policies: { hedge: { delayMs: 50 } },
      balance: { picker: subset({ picker: () => scripted(['slow', 'slow', 'fast']) }) },
      clock,
    });
    try {
      const result = pipeline.service('/q', createContext({ clock }));
      await clock.advance(50);
      assert.equal(await result, '/q from fast');
      assert.deepEqual(calls, ['slow', 'fast']);
      assert.deepEqual(cancelled, ['slow']);
      assert.equal((pipeline.describe() as { hedge: { delayMs: number } }).hedge.delayMs, 50);
    } finally {
      await pipeline.close();
    }
  });

  it('rejects bad hedge options at construction, naming them', () => {
    assert.throws(
      () =>
        clientStack<string, string>({
          service: 'users',
          endpoints,
          connect: () => async () => 'x',
          policies: { hedge: { delayMs: -1 } },
        }),
      /hedge\.delayMs/,
    );
  });
});
