import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { p2cPeakEwma, roundRobin } from '@meshkit/balance';
import {
  cancelsPromptly,
  completable,
  createContext,
  ErrorCode,
  FakeClock,
  type Layer,
  MeshError,
  markCancelsPromptly,
} from '@meshkit/core';
import { consecutiveFailures, constantBackoff } from '@meshkit/policies';
import { clientStack } from './client-stack.ts';

const unavailable = (address: string): MeshError =>
  new MeshError(ErrorCode.CONNECTION_RESET, `reset by ${address}`, { retryable: true, rejected: true });

describe('clientStack', () => {
  for (const [name, picker] of [
    ['p2c-ewma', () => p2cPeakEwma({ random: () => 0 })],
    ['round-robin', () => roundRobin()],
  ] as const) {
    it(`a retry goes to an endpoint this call has not failed on yet (${name})`, async () => {
      const clock = new FakeClock();
      const seen: string[][] = [];
      let call: string[] = [];
      const pipeline = clientStack<string, string>({
        service: 'users',
        endpoints: [
          { id: 'a', address: 'a' },
          { id: 'b', address: 'b' },
        ],
        // The first attempt of every call fails, wherever it goes; the retry answers. A fast failure
        // leaves the failed endpoint the cheapest for P2C, which without the previous-hosts rule sends
        // the retry straight back to it.
        connect: (endpoint) => async (req) => {
          call.push(endpoint.id);
          if (call.length < 2) throw unavailable(endpoint.address);
          return `${req} from ${endpoint.address}`;
        },
        policies: { retry: { maxAttempts: 3, backoff: constantBackoff(0) }, breaker: false },
        balance: { picker: picker() },
        clock,
      });
      try {
        for (let i = 0; i < 3; i++) {
          call = [];
          await pipeline.service('q', createContext({ clock }));
          seen.push(call);
        }
        for (const tried of seen)
          assert.equal(new Set(tried).size, 2, `attempts went to ${tried.join(', ')}`);
      } finally {
        await pipeline.close();
      }
    });
  }

  it('route, then your layers, then deadline, retry, balancer and each endpoint’s breaker', async () => {
    const clock = new FakeClock();
    const order: string[] = [];
    const seen: string[] = [];
    const tag = (name: string): Layer<string, string> => ({
      name,
      wrap: (next) => (req, ctx) => {
        order.push(name);
        return next(req, ctx);
      },
    });
    const pipeline = clientStack<string, string>({
      service: 'users',
      endpoints: [
        { id: 'bad', address: 'bad' },
        { id: 'good', address: 'good' },
      ],
      connect: (endpoint) => async (req) => {
        seen.push(endpoint.address);
        if (endpoint.address === 'bad') throw unavailable(endpoint.address);
        return `${req} from ${endpoint.address}`;
      },
      route: tag('route'),
      layers: [tag('mine')],
      policies: {
        retry: { maxAttempts: 3, backoff: constantBackoff(0) },
        breaker: { strategy: consecutiveFailures({ threshold: 1 }) },
      },
      balance: { picker: roundRobin() },
      clock,
    });
    try {
      for (let i = 0; i < 4; i++) {
        assert.equal(await pipeline.service('q', createContext({ clock })), 'q from good');
      }
      assert.deepEqual(order.slice(0, 2), ['route', 'mine']);
      // The bad endpoint failed once, its breaker opened, and the balancer skips it from then on.
      assert.equal(seen.filter((a) => a === 'bad').length, 1);
      const described = pipeline.describe() as {
        layers: { name: string }[];
        balancer: {
          endpoints: { id: string; readiness: string; layers: { name: string; state?: string }[] }[];
        };
      };
      assert.deepEqual(
        described.layers.map((l) => l.name),
        ['route', 'mine', 'route-policies'],
      );
      const bad = described.balancer.endpoints.find((e) => e.id === 'bad')!;
      assert.equal(bad.readiness, 'closed');
      assert.equal(bad.layers[0]?.state, 'open', 'describe() reaches each endpoint’s own layers');
    } finally {
      await pipeline.close();
    }
  });

  it('holds an endpoint’s bulkhead slot until a streamed result is over', async () => {
    const streams: ReturnType<typeof completable>[] = [];
    const pipeline = clientStack<string, object>({
      service: 'feed',
      endpoints: [{ id: 'a', address: 'a' }],
      connect: () => async () => {
        const result = {};
        streams.push(completable(result));
        return result;
      },
      policies: { bulkhead: { maxConcurrent: 1, maxQueue: 0 }, retry: false },
    });
    try {
      await pipeline.service('1', createContext());
      const endpoint = () =>
        (
          pipeline.describe() as {
            balancer: { endpoints: { inFlight: number; layers: { active?: number }[] }[] };
          }
        ).balancer.endpoints[0]!;
      assert.equal(endpoint().inFlight, 1);
      assert.equal(endpoint().layers.find((l) => l.active !== undefined)?.active, 1);
      streams[0]!.complete();
      assert.equal(endpoint().inFlight, 0);
      assert.equal(endpoint().layers.find((l) => l.active !== undefined)?.active, 0);
    } finally {
      await pipeline.close();
    }
  });

  it('the whole pipeline cancels promptly when its transports do, checked endpoint by endpoint', async () => {
    const build = (marked: boolean, hedge: boolean) =>
      clientStack<string, string>({
        service: 'users',
        endpoints: [{ id: 'a', address: 'a' }],
        connect: () => {
          const transport = async (req: string) => req;
          return marked ? markCancelsPromptly(transport) : transport;
        },
        policies: {
          retry: { maxAttempts: 2, backoff: constantBackoff(0) },
          attemptTimeoutMs: 100,
          ...(hedge ? { hedge: { delayMs: 10 } } : {}),
        },
        transportCancelsPromptly: true,
      });
    for (const hedge of [false, true]) {
      const pipeline = build(true, hedge);
      try {
        assert.equal(cancelsPromptly(pipeline.service), true);
        assert.equal(await pipeline.service('q', createContext()), 'q');
      } finally {
        await pipeline.close();
      }
    }
    // A transport that breaks the declaration is refused, never trusted.
    assert.throws(() => build(false, false), /must return a service marked with markCancelsPromptly/);
  });

  it('checks its options, naming the field', () => {
    assert.throws(
      () =>
        clientStack({
          service: 's',
          endpoints: [],
          connect: () => async () => 1,
          policies: { deadlineMs: 0 },
        }),
      /clientStack.policies.deadlineMs must be >= 1/,
    );
    assert.throws(
      () => clientStack({ service: 's', endpoints: [], connect: 1 as never }),
      /clientStack.connect/,
    );
  });
});
