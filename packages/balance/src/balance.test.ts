import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import {
  type CallContext,
  cancelsPromptly,
  createContext,
  type EndpointInit,
  FakeClock,
  InvalidArgumentError,
  isMeshError,
  MeshError,
  markCancelsPromptly,
  type Readiness,
  sleep,
} from '@meshkit/core';
import { balance } from './balance.ts';
import { balanceChannels, type EjectedEvent, type PickedEvent } from './events.ts';
import { subsetLabels } from './picker.ts';
import { roundRobin } from './pickers/basic.ts';
import { subset } from './pickers/subset.ts';
import { type EndpointService, endpointService } from './tracked.ts';

const three: EndpointInit[] = [
  { id: 'a', address: '10.0.0.1:80' },
  { id: 'b', address: '10.0.0.2:80' },
  { id: 'c', address: '10.0.0.3:80' },
];

/** Per-endpoint services that answer with their endpoint id, or fail as told. */
function cluster(behaviour: Record<string, (ctx: CallContext) => Promise<string>> = {}) {
  const calls = new Map<string, number>();
  const closed: string[] = [];
  const readiness = new Map<string, Readiness>();
  const connect = (endpoint: { id: string }): EndpointService<string, string> =>
    Object.assign(
      async (_req: string, ctx: CallContext) => {
        assert.equal(ctx.endpoint?.id, endpoint.id, 'the balancer sets ctx.endpoint');
        calls.set(endpoint.id, (calls.get(endpoint.id) ?? 0) + 1);
        const run = behaviour[endpoint.id];
        return run === undefined ? endpoint.id : run(ctx);
      },
      {
        readiness: () => readiness.get(endpoint.id) ?? 'ready',
        close: () => {
          closed.push(endpoint.id);
        },
      },
    );
  return { calls, closed, readiness, connect };
}

async function noEndpoint(run: () => Promise<unknown>, reason: string): Promise<MeshError> {
  let caught: unknown;
  await assert.rejects(run, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(isMeshError(caught), String(caught));
  assert.equal(caught.code, 'ERR_NO_ENDPOINT');
  assert.equal(caught.details.reason, reason, caught.message);
  assert.equal(caught.rejected, true);
  return caught;
}

const connectFailure = () => Promise.reject(new MeshError('ERR_CONNECT', 'connect ECONNREFUSED'));

describe('balance', () => {
  it('round-robins over a fixed list and hands each call its endpoint', async () => {
    const c = cluster();
    const svc = balance({ service: 'users', endpoints: three, connect: c.connect, picker: roundRobin() });
    const ctx = createContext();
    const got = [];
    for (let i = 0; i < 6; i++) got.push(await svc('hi', ctx));
    assert.deepEqual(got, ['a', 'b', 'c', 'a', 'b', 'c']);
    assert.equal(ctx.endpoint, undefined, 'the caller’s context is untouched');
    await svc.close();
    assert.deepEqual(c.closed.sort(), ['a', 'b', 'c']);
  });

  it('names the service and the reason when nothing is registered', async () => {
    const svc = balance({ service: 'users', endpoints: [], connect: cluster().connect });
    const err = await noEndpoint(() => svc('x', createContext()), 'none-registered');
    assert.match(err.message, /no endpoint for service "users": no endpoint is registered/);
  });

  it('follows a stream of endpoint sets; calls wait for the first one', async () => {
    const c = cluster();
    const queue: EndpointInit[][] = [];
    let wake: (() => void) | undefined;
    const push = (set: EndpointInit[]) => {
      queue.push(set);
      wake?.();
    };
    async function* sets(): AsyncGenerator<readonly EndpointInit[]> {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        await new Promise<void>((r) => {
          wake = r;
        });
      }
    }
    const svc = balance({ service: 'users', endpoints: sets(), connect: c.connect, picker: roundRobin() });
    const pending = svc('x', createContext());
    push([three[0]!]);
    assert.equal(await pending, 'a');
    push([three[1]!, three[2]!]);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(c.closed, ['a'], 'a removed endpoint is closed');
    const ids = new Set([await svc('x', createContext()), await svc('x', createContext())]);
    assert.deepEqual([...ids].sort(), ['b', 'c']);
    push([]);
    await new Promise((r) => setImmediate(r));
    await noEndpoint(() => svc('x', createContext()), 'none-registered');
    await svc.close();
  });

  it('a call waiting for discovery is cancelled by its context, and leaves no listener behind', async () => {
    let deliver: (set: readonly EndpointInit[]) => void = () => {};
    const once: AsyncIterable<readonly EndpointInit[]> = {
      [Symbol.asyncIterator]: () => ({
        next: () =>
          new Promise((resolve) => {
            deliver = (set) => resolve({ done: false, value: set });
          }),
      }),
    };
    const svc = balance({ service: 'users', endpoints: once, connect: cluster().connect });
    const cancelled = new AbortController();
    const call = svc('x', createContext({ signal: cancelled.signal }));
    cancelled.abort(new Error('caller gave up'));
    await assert.rejects(call, { name: 'AbortError' });

    const longLived = new AbortController();
    const waiting = svc('x', createContext({ signal: longLived.signal }));
    assert.equal(getEventListeners(longLived.signal, 'abort').length, 1);
    deliver([three[0]!]);
    assert.equal(await waiting, 'a');
    assert.equal(getEventListeners(longLived.signal, 'abort').length, 0, 'the wait removed its listener');
    await svc.close();
  });

  it('fails with discovery-pending when discovery delivers nothing in time', async () => {
    const clock = new FakeClock();
    const never: AsyncIterable<readonly EndpointInit[]> = {
      [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => {}) }),
    };
    const svc = balance({
      service: 'users',
      endpoints: never,
      connect: cluster().connect,
      clock,
      discoveryTimeoutMs: 500,
    });
    const call = noEndpoint(() => svc('x', createContext({ clock })), 'discovery-pending');
    await clock.advance(500);
    await call;
    await svc.close();
  });

  it('skips endpoints whose transport is closed (open circuit) before sending', async () => {
    const c = cluster();
    c.readiness.set('b', 'closed');
    const svc = balance({ service: 'users', endpoints: three, connect: c.connect, picker: roundRobin() });
    for (let i = 0; i < 30; i++) await svc('x', createContext());
    assert.equal(c.calls.get('b'), undefined);
    assert.equal(c.calls.get('a'), 15);
    c.readiness.set('a', 'closed');
    c.readiness.set('c', 'closed');
    await noEndpoint(() => svc('x', createContext()), 'all-closed');
    c.readiness.set('c', 'busy');
    assert.equal(await svc('x', createContext()), 'c', 'a busy endpoint beats none');
    await svc.close();
  });

  it('publishes the endpoint picked for each attempt, with its address, labels and context', async () => {
    const c = cluster();
    const events: PickedEvent[] = [];
    const listen = (e: PickedEvent) => events.push(e);
    balanceChannels.picked.subscribe(listen);
    try {
      const endpoints = three.map((e) => ({ ...e, labels: { version: e.id === 'c' ? 'v2' : 'v1' } }));
      const svc = balance({ service: 'users', endpoints, connect: c.connect, picker: roundRobin() });
      const ctx = createContext().with({ attempt: 2 });
      const answered = [await svc('x', ctx), await svc('x', ctx), await svc('x', ctx)];
      assert.deepEqual(
        events.map((e) => [e.service, e.endpoint, e.address, e.labels.version, e.attempt, e.ctx === ctx]),
        answered.map((id) => [
          'users',
          id,
          `10.0.0.${'abc'.indexOf(id) + 1}:80`,
          id === 'c' ? 'v2' : 'v1',
          2,
          true,
        ]),
      );
      await svc.close();
    } finally {
      balanceChannels.picked.unsubscribe(listen);
    }
  });

  it('ejects an endpoint after consecutive connect failures and returns it after the ejection time', async () => {
    const clock = new FakeClock();
    const c = cluster({ b: connectFailure });
    const events: EjectedEvent[] = [];
    const listen = (e: EjectedEvent) => events.push(e);
    balanceChannels.ejected.subscribe(listen);
    const svc = balance({
      service: 'users',
      endpoints: three,
      connect: c.connect,
      picker: roundRobin(),
      clock,
      outlierDetection: { consecutiveLocalOriginFailure: 3, baseEjectionTimeMs: 1_000, intervalMs: 60_000 },
    });
    const ctx = createContext({ clock });
    const run = async (n: number) => {
      for (let i = 0; i < n; i++) await svc('x', ctx).catch(() => {});
    };
    await run(9); // b fails on calls 2, 5, 8
    assert.equal(c.calls.get('b'), 3);
    assert.deepEqual(
      events.map((e) => [e.endpoint, e.reason, e.untilMs - clock.now()]),
      [['b', 'consecutive-local-origin-failure', 1_000]],
    );
    assert.equal(svc.describe().endpoints.find((e) => e.id === 'b')?.readiness, 'closed');
    await run(20);
    assert.equal(c.calls.get('b'), 3, 'no call reaches an ejected endpoint');
    await clock.advance(1_000);
    await run(3);
    assert.equal(c.calls.get('b'), 4, 'back in rotation after the ejection time');
    await run(6); // two more failures: ejected again, for twice as long
    assert.equal(events.length, 2);
    assert.equal(events[1]!.untilMs - clock.now(), 2_000, 'the second ejection lasts twice as long');
    balanceChannels.ejected.unsubscribe(listen);
    await svc.close();
    assert.equal(clock.pendingTimers, 0, 'close() leaves no timer behind');
  });

  it('decays the ejection count for each clean interval, so the next ejection is short again', async () => {
    const clock = new FakeClock();
    let failing = true;
    const c = cluster({ b: () => (failing ? connectFailure() : Promise.resolve('b')) });
    const svc = balance({
      service: 'users',
      endpoints: three,
      connect: c.connect,
      picker: roundRobin(),
      clock,
      outlierDetection: { consecutiveLocalOriginFailure: 1, baseEjectionTimeMs: 1_000, intervalMs: 5_000 },
    });
    const ctx = createContext({ clock });
    const b = () => svc.describe().endpoints.find((e) => e.id === 'b')!;
    const callB = async () => {
      for (let i = 0; i < 3; i++) await svc('x', ctx).catch(() => {});
    };
    await callB();
    assert.equal(b().ejections, 1);
    await clock.advance(1_000);
    await callB();
    assert.equal(b().ejections, 2, 'failed again right after returning: the count grows');
    failing = false;
    await clock.advance(2_000); // the second ejection (2 s) ends
    await callB();
    await clock.advance(2_000); // interval tick at 5 s: this interval saw failures, no decay
    assert.equal(b().ejections, 2);
    await clock.advance(5_000); // 10 s: a clean interval in service
    assert.equal(b().ejections, 1);
    await clock.advance(5_000);
    assert.equal(b().ejections, 0);
    failing = true;
    await callB();
    const ejectedAt = clock.now();
    assert.equal(b().ejected, true);
    await clock.advance(999);
    assert.equal(b().ejected, true);
    await clock.advance(1);
    assert.equal(b().ejected, false, `back after the base time again (ejected at ${ejectedAt})`);
    await svc.close();
  });

  it('never ejects more than maxEjectionPercent; panic mode and all-ejected', async () => {
    const clock = new FakeClock();
    const failing = { a: connectFailure, b: connectFailure };
    const make = (maxEjectionPercent: number, panicThresholdPercent: number) =>
      balance({
        service: 'users',
        endpoints: three.slice(0, 2),
        connect: cluster(failing).connect,
        picker: roundRobin(),
        clock,
        panicThresholdPercent,
        outlierDetection: { consecutiveLocalOriginFailure: 1, maxEjectionPercent },
      });
    const ctx = createContext({ clock });
    const capped = make(50, 0);
    for (let i = 0; i < 6; i++) await capped('x', ctx).catch(() => {});
    assert.equal(capped.describe().endpoints.filter((e) => e.ejected).length, 1);
    const unbounded = make(100, 0);
    for (let i = 0; i < 2; i++) await unbounded('x', ctx).catch(() => {});
    const err = await noEndpoint(() => unbounded('x', ctx), 'all-ejected');
    assert.match(err.message, /all 2 endpoints are ejected by outlier detection/);
    const panicky = make(100, 50);
    await panicky('x', ctx).catch(() => {});
    assert.equal(panicky.describe().panic, false, 'one of two ejected: 50% healthy is not below 50%');
    await panicky('x', ctx).catch(() => {});
    assert.equal(panicky.describe().panic, true);
    await assert.rejects(panicky('x', ctx), /ECONNREFUSED/, 'in panic, calls go to ejected endpoints');
    for (const s of [capped, unbounded, panicky]) await s.close();
  });

  it('ejects by failure percentage over an interval', async () => {
    const clock = new FakeClock();
    let n = 0;
    const endpoints = Array.from({ length: 5 }, (_, i) => ({ id: `e${i}`, address: `10.0.0.${i}:80` }));
    const flaky = () => (n++ % 10 === 0 ? Promise.resolve('ok') : Promise.reject(new Error('boom')));
    const c = cluster({ e0: flaky });
    const svc = balance({
      service: 'users',
      endpoints,
      connect: c.connect,
      picker: roundRobin(),
      clock,
      outlierDetection: {
        consecutive5xx: 0,
        consecutiveGatewayFailure: 0,
        consecutiveLocalOriginFailure: 0,
        intervalMs: 1_000,
        failurePercentageRequestVolume: 10,
        failurePercentageMinimumHosts: 5,
      },
    });
    const ctx = createContext({ clock });
    for (let i = 0; i < 100; i++) await svc('x', ctx).catch(() => {});
    assert.equal(svc.describe().endpoints[0]!.ejected, false, 'judged only at the interval');
    await clock.advance(1_000);
    const described = svc.describe().endpoints;
    assert.equal(described[0]!.ejected, true, '90% failures >= 85%');
    assert.equal(described.filter((e) => e.ejected).length, 1);
    await svc.close();
  });

  it('classifies 4xx and cancellations as saying nothing about the endpoint', async () => {
    const clock = new FakeClock();
    const c = cluster({
      a: () => Promise.reject(new MeshError('ERR_HTTP_STATUS', '404', { details: { status: 404 } })),
    });
    const svc = balance({
      service: 'users',
      endpoints: [three[0]!, three[1]!],
      connect: c.connect,
      picker: roundRobin(),
      clock,
      outlierDetection: { consecutive5xx: 1, maxEjectionPercent: 100 },
    });
    for (let i = 0; i < 10; i++) await svc('x', createContext({ clock })).catch(() => {});
    assert.equal(svc.describe().endpoints[0]!.ejected, false);
    await svc.close();
  });

  it('keeps the last set when discovery fails later, and names a failure before the first set', async () => {
    const c = cluster();
    let calls = 0;
    const flaky: AsyncIterable<readonly EndpointInit[]> & { close(): void; closed: boolean } = {
      closed: false,
      close() {
        this.closed = true;
      },
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          calls++;
          if (calls === 1) return { done: false, value: three };
          throw new Error('registry unreachable');
        },
      }),
    };
    const svc = balance({ service: 'users', endpoints: flaky, connect: c.connect, picker: roundRobin() });
    assert.equal(await svc('x', createContext()), 'a');
    await new Promise((r) => setImmediate(r));
    assert.equal(await svc('x', createContext()), 'b', 'the last set still serves');
    assert.match(svc.describe().discoveryError ?? '', /registry unreachable/);
    await svc.close();
    assert.equal(flaky.closed, true, 'close() closes a source that has a disposer');

    const broken: AsyncIterable<readonly EndpointInit[]> = {
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('no such registry')) }),
    };
    const none = balance({ service: 'users', endpoints: broken, connect: c.connect });
    const err = await noEndpoint(() => none('x', createContext()), 'discovery-failed');
    assert.match(err.message, /discovery failed: no such registry/);
    await none.close();
  });

  it('a fixed endpoint that cannot be connected fails at construction, naming the entry', () => {
    const connect = (e: { address: string }) => {
      if (e.address === 'bad') throw new Error('address "bad" is not host:port');
      return async () => 'ok';
    };
    assert.throws(
      () =>
        balance({
          service: 'users',
          endpoints: [
            { id: 'a', address: '10.0.0.1:80' },
            { id: 'b', address: 'bad' },
          ],
          connect,
        }),
      (error: unknown) =>
        error instanceof InvalidArgumentError &&
        error.field === 'balance.endpoints[1]' &&
        /cannot be used: address "bad" is not host:port/.test(error.message),
    );
  });

  it('discovered endpoints that all fail to connect are reported as rejected, not as "none registered"', async () => {
    const connect = (e: { address: string }) => {
      if (e.address === 'bad') throw new Error('address "bad" is not host:port');
      return async () => 'ok';
    };
    async function* sets(): AsyncGenerator<readonly EndpointInit[]> {
      yield [{ id: 'b', address: 'bad' }];
      await new Promise(() => {});
    }
    const svc = balance({ service: 'users', endpoints: sets(), connect });
    const err = await noEndpoint(() => svc('x', createContext()), 'all-rejected');
    assert.match(err.message, /none could be used: address "bad" is not host:port/);
    await svc.close();
  });

  it('fails with no-match when the subset has no endpoint, and describes every endpoint', async () => {
    const c = cluster();
    const svc = balance({
      service: 'users',
      endpoints: [
        { id: 'a', address: '10.0.0.1:80', labels: { version: 'v1' }, weight: 2 },
        { id: 'b', address: '10.0.0.2:80', labels: { version: 'v2' } },
      ],
      connect: c.connect,
      picker: subset({ picker: roundRobin }),
    });
    assert.equal(await svc('x', createContext().set(subsetLabels, { version: 'v2' })), 'b');
    await noEndpoint(() => svc('x', createContext().set(subsetLabels, { version: 'v3' })), 'no-match');
    const described = svc.describe();
    assert.equal(described.picker, 'subset(round-robin)');
    assert.deepEqual(
      described.endpoints.map((e) => [e.id, e.weight, e.readiness, e.healthy, e.ejected, e.inFlight]),
      [
        ['a', 2, 'ready', true, false, 0],
        ['b', 1, 'ready', true, false, 0],
      ],
    );
    await svc.close();
  });

  it('endpointService() attaches readiness and close to a plain service', async () => {
    let open = false;
    const closed: string[] = [];
    const svc = balance<string, string>({
      service: 'users',
      endpoints: three.slice(0, 2),
      picker: roundRobin(),
      connect: (endpoint) =>
        endpointService(async () => endpoint.id, {
          readiness: () => (open && endpoint.id === 'a' ? 'closed' : 'ready'),
          close: () => {
            closed.push(endpoint.id);
          },
        }),
    });
    assert.deepEqual([await svc('x', createContext()), await svc('x', createContext())], ['a', 'b']);
    open = true; // a's circuit opens
    assert.deepEqual([await svc('x', createContext()), await svc('x', createContext())], ['b', 'b']);
    await svc.close();
    assert.deepEqual(closed.sort(), ['a', 'b']);
  });

  it('leaves out a discovered endpoint whose connect() throws, keeping the others', async () => {
    async function* discovered(): AsyncGenerator<readonly EndpointInit[]> {
      yield three;
      await new Promise(() => {});
    }
    const svc = balance<string, string>({
      service: 'users',
      endpoints: discovered(),
      picker: roundRobin(),
      connect: (endpoint) => {
        if (endpoint.id === 'b') throw new Error('bad address');
        return async () => endpoint.id;
      },
    });
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await svc('x', createContext()));
    assert.deepEqual(got, ['a', 'c', 'a', 'c']);
    assert.match(svc.describe().discoveryError ?? '', /bad address/);
    await svc.close();
  });

  it('cancelsPromptly marks the balancer, and refuses an endpoint whose service is not marked', async () => {
    const plain = balance<string, string>({ service: 'users', endpoints: three, connect: cluster().connect });
    assert.equal(cancelsPromptly(plain), false);
    await plain.close();

    async function* discovered(): AsyncGenerator<readonly EndpointInit[]> {
      yield three;
      await new Promise(() => {});
    }
    const svc = balance<string, string>({
      service: 'users',
      endpoints: discovered(),
      picker: roundRobin(),
      cancelsPromptly: true,
      connect: (endpoint) => {
        const service = async () => endpoint.id;
        return endpoint.id === 'b' ? service : markCancelsPromptly(service);
      },
    });
    assert.equal(cancelsPromptly(svc), true);
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await svc('x', createContext()));
    assert.deepEqual(got, ['a', 'c', 'a', 'c'], 'the unmarked endpoint takes no call');
    assert.match(svc.describe().discoveryError ?? '', /markCancelsPromptly/);
    await svc.close();

    const unmarked = (): EndpointService<string, string> => async () => 'x';
    assert.throws(
      () =>
        balance<string, string>({
          service: 'users',
          endpoints: three,
          cancelsPromptly: true,
          connect: unmarked,
        }),
      /must return a service marked with markCancelsPromptly/,
    );
  });

  it('validates options with errors naming the field', () => {
    const base = { service: 'users', endpoints: three, connect: cluster().connect };
    assert.throws(() => balance({ ...base, service: '' }), /balance\.service must be a non-empty string/);
    assert.throws(() => balance({ ...base, connect: 1 as never }), /balance\.connect must be a function/);
    assert.throws(() => balance({ ...base, endpoints: 5 as never }), /balance\.endpoints must be an array/);
    assert.throws(() => balance({ ...base, picker: {} as never }), /balance\.picker must be a Picker/);
    assert.throws(
      () => balance({ ...base, panicThresholdPercent: 101 }),
      /balance\.panicThresholdPercent must be between 0 and 100/,
    );
    assert.throws(
      () => balance({ ...base, outlierDetection: { baseEjectionTimeMs: 10, maxEjectionTimeMs: 5 } }),
      /balance\.outlierDetection\.maxEjectionTimeMs must be >= baseEjectionTimeMs/,
    );
    assert.throws(
      () => balance({ ...base, healthCheck: { probe: async () => {}, unhealthyThreshold: 0 } }),
      /balance\.healthCheck\.unhealthyThreshold must be an integer >= 1/,
    );
  });
});

describe('balance simulation: one endpoint 10x slower', () => {
  async function simulate(picker: 'p2c' | 'rr'): Promise<Map<string, number>> {
    const clock = new FakeClock();
    const latency: Record<string, number> = { e0: 100, e1: 10, e2: 10, e3: 10, e4: 10 };
    const endpoints = Object.keys(latency).map((id) => ({ id, address: `${id}:80` }));
    const counts = new Map<string, number>();
    const svc = balance<number, string>({
      service: 'sim',
      endpoints,
      clock,
      outlierDetection: false,
      ...(picker === 'rr' ? { picker: roundRobin() } : {}),
      connect: (endpoint) => async (_req, ctx) => {
        counts.set(endpoint.id, (counts.get(endpoint.id) ?? 0) + 1);
        await sleep(ctx.clock, latency[endpoint.id]!);
        return endpoint.id;
      },
    });
    // Open-loop arrivals: one call every 5 ms for 10 s of simulated time.
    const done: Promise<string>[] = [];
    for (let i = 0; i < 2_000; i++) {
      done.push(svc(i, createContext({ clock })));
      await clock.advance(5);
    }
    await clock.advance(200);
    await Promise.all(done);
    await svc.close();
    return counts;
  }

  it('P2C + peak EWMA sends the slow endpoint under 10% of calls', async () => {
    const counts = await simulate('p2c');
    const share = (counts.get('e0') ?? 0) / 2_000;
    assert.ok(share < 0.1, `slow endpoint got ${(share * 100).toFixed(1)}%`);
  });

  it('round robin sends it exactly 1/N', async () => {
    const counts = await simulate('rr');
    assert.equal(counts.get('e0'), 400);
  });
});

describe('balance at low traffic: one slow first response', () => {
  it('two equal endpoints share calls again within a few seconds after one lone slow response', async () => {
    const clock = new FakeClock();
    const counts = new Map<string, number>();
    let first = true;
    const svc = balance<number, string>({
      service: 'cold-start',
      endpoints: [
        { id: 'a', address: 'a:80' },
        { id: 'b', address: 'b:80' },
      ],
      clock,
      outlierDetection: false,
      connect: (endpoint) => async (_req, ctx) => {
        counts.set(endpoint.id, (counts.get(endpoint.id) ?? 0) + 1);
        // Both answer in 50 ms, except the very first call, which finds a cold instance (500 ms).
        await sleep(ctx.clock, first ? 500 : 50);
        first = false;
        return endpoint.id;
      },
    });
    const run = async (untilMs: number): Promise<void> => {
      // One call at a time, 10 ms apart: the traffic of a script or a quiet service.
      const end = clock.now() + untilMs;
      while (clock.now() < end) {
        let settled = false;
        const call = svc(0, createContext({ clock })).finally(() => {
          settled = true;
        });
        while (!settled) await clock.advance(10);
        await call;
        await clock.advance(10);
      }
    };
    await run(600);
    const slow = [...counts.keys()][0]!;
    await run(3_000);
    counts.clear();
    await run(3_000);
    const share = (counts.get(slow) ?? 0) / ((counts.get('a') ?? 0) + (counts.get('b') ?? 0));
    assert.ok(
      share > 0.3,
      `the endpoint that answered slowly once got ${(share * 100).toFixed(0)}% from 3 s to 6 s`,
    );
    await svc.close();
  });
});
