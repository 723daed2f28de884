import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type CallContext, createContext, FakeClock, isMeshError } from '@meshkit/core';
import {
  compileRoutes,
  loadRoutesOrThrow,
  type RouteDecision,
  type RouteEvent,
  routeChannel,
  routeDecision,
  routeHashKey,
  routing,
} from './index.ts';
import { get, seededRandom, type TestRequest, table, testAdapter, virtualService } from './test-support.ts';

type Res = { status: number; headers: Record<string, string> };
const fixtures = join(import.meta.dirname, 'fixtures');

/** A service below the routing layer that records what it was given. */
function recorder() {
  const seen: { req: TestRequest; decision: RouteDecision | undefined; ctx: CallContext }[] = [];
  const next = async (req: TestRequest, ctx: CallContext): Promise<Res> => {
    seen.push({ req, decision: ctx.get(routeDecision), ctx });
    return { status: 200, headers: { server: 'upstream' } };
  };
  return { seen, next };
}

describe('routing layer, the seed documents', () => {
  it('x-canary: true sends every call to subset v2', async () => {
    const { config } = await loadRoutesOrThrow(join(fixtures, 'seed-canary.yaml'));
    const { seen, next } = recorder();
    const call = routing({
      routes: compileRoutes(config),
      host: 'user-service',
      adapter: testAdapter,
      random: seededRandom(1),
    }).wrap(next);
    for (let i = 0; i < 1_000; i++) await call(get('/users/42', { 'x-canary': 'true' }), createContext());
    assert.equal(seen.length, 1_000);
    assert.ok(seen.every((s) => s.decision?.subset === 'v2' && s.decision.host === 'user-service'));
    assert.deepEqual(seen[0]!.decision?.subsetLabels, { version: 'v2' });
  });

  it('splits 10,000 calls 90/10 between v1 and v2, within a 99.9% binomial bound', async () => {
    const { config } = await loadRoutesOrThrow(join(fixtures, 'seed-canary.yaml'));
    const { seen, next } = recorder();
    const call = routing({
      routes: compileRoutes(config),
      host: 'user-service',
      adapter: testAdapter,
      random: seededRandom(42),
    }).wrap(next);
    for (let i = 0; i < 10_000; i++) await call(get('/users/42', { 'x-canary': 'false' }), createContext());
    const v2 = seen.filter((s) => s.decision?.subset === 'v2').length;
    const v1 = seen.filter((s) => s.decision?.subset === 'v1').length;
    assert.equal(v1 + v2, 10_000);
    // n p = 1000, sd = sqrt(n p (1 - p)) = 30; z(99.95%) = 3.29, so 1000 +/- 99.
    assert.ok(v2 >= 901 && v2 <= 1_099, `v2 took ${v2} of 10,000`);
  });

  it('hands the seed retry document down as written: 3 retries, 2 s per try, 10 s overall', async () => {
    const { config, issues } = await loadRoutesOrThrow(join(fixtures, 'seed-retries.yaml'));
    assert.deepEqual(
      issues.map((i) => [i.severity, i.path]),
      [['warning', 'spec.http[0].retries.retryOn']],
    );
    const { seen, next } = recorder();
    await routing({ routes: compileRoutes(config), host: 'user-service', adapter: testAdapter }).wrap(next)(
      get('/users/1'),
      createContext(),
    );
    const d = seen[0]!.decision!;
    assert.equal(d.subset, undefined);
    assert.equal(d.timeoutMs, 10_000);
    assert.equal(d.retry?.maxAttempts, 4, 'Istio attempts counts retries');
    assert.equal(d.retry?.perTryTimeoutMs, 2_000);
    assert.deepEqual(d.retry?.conditions, [
      'connect-failure',
      'refused-stream',
      'unavailable',
      'cancelled',
      'retriable-status-codes',
    ]);
    assert.deepEqual(d.retry?.retriableStatuses, [500]);
  });
});

describe('routing layer', () => {
  it('passes a call for a host no VirtualService names through with no decision', async () => {
    const { seen, next } = recorder();
    const call = routing({
      routes: table(virtualService('  - route: [{ destination: { host: svc } }]')),
      host: 'other',
      adapter: testAdapter,
    }).wrap(next);
    await call(get('/'), createContext());
    assert.equal(seen[0]!.decision, undefined);
  });

  it('fails a call no rule matches with ERR_NO_ENDPOINT (Istio answers 404), without calling below', async () => {
    const { seen, next } = recorder();
    const t = table(
      virtualService('  - match: [{ uri: { prefix: /a } }]\n    route: [{ destination: { host: svc } }]'),
    );
    const call = routing({ routes: t, host: 'svc', adapter: testAdapter }).wrap(next);
    await assert.rejects(
      call(get('/b'), createContext()),
      (e) => isMeshError(e) && e.code === 'ERR_NO_ENDPOINT' && e.details.reason === 'no-route',
    );
    assert.equal(seen.length, 0);
  });

  it('injects a fixed delay on the clock, then calls through', async () => {
    const clock = new FakeClock();
    const { seen, next } = recorder();
    const t = table(
      virtualService(`  - fault: { delay: { fixedDelay: 5s, percentage: { value: 100 } } }
    route: [{ destination: { host: svc } }]`),
    );
    const call = routing({ routes: t, host: 'svc', adapter: testAdapter, clock }).wrap(next);
    const pending = call(get('/'), createContext({ clock }));
    await clock.advance(4_999);
    assert.equal(seen.length, 0);
    await clock.advance(1);
    await pending;
    assert.equal(seen.length, 1);
  });

  it('a delayed call is cancelled with its caller', async () => {
    const clock = new FakeClock();
    const { seen, next } = recorder();
    const t = table(
      virtualService(`  - fault: { delay: { fixedDelay: 5s } }
    route: [{ destination: { host: svc } }]`),
    );
    const controller = new AbortController();
    const call = routing({ routes: t, host: 'svc', adapter: testAdapter, clock }).wrap(next);
    const pending = call(get('/'), createContext({ clock, signal: controller.signal }));
    controller.abort(new Error('caller left'));
    await assert.rejects(pending, /caller left/);
    await clock.advance(5_000);
    assert.equal(seen.length, 0);
  });

  it('aborts the fraction of calls the fault asks for, with the HTTP or gRPC status', async () => {
    const { seen, next } = recorder();
    const t = table(
      virtualService(`  - match: [{ uri: { prefix: /http } }]
    fault: { abort: { httpStatus: 503, percentage: { value: 25 } } }
    route: [{ destination: { host: svc } }]
  - fault: { abort: { grpcStatus: UNAVAILABLE } }
    route: [{ destination: { host: svc } }]`),
    );
    const call = routing({ routes: t, host: 'svc', adapter: testAdapter, random: seededRandom(7) }).wrap(
      next,
    );
    let aborted = 0;
    for (let i = 0; i < 4_000; i++) {
      await call(get('/http'), createContext()).catch((e) => {
        assert.ok(isMeshError(e) && e.code === 'ERR_HTTP_STATUS' && e.details.status === 503);
        aborted++;
      });
    }
    // n p = 1000, sd = sqrt(4000 * 0.25 * 0.75) = 27.4; 1000 +/- 3.29 sd.
    assert.ok(aborted >= 910 && aborted <= 1_090, `aborted ${aborted}`);
    assert.equal(seen.length, 4_000 - aborted);
    await assert.rejects(
      call({ method: 'POST', path: '/user.UserService/GetUser', headers: {} }, createContext()),
      (e) => isMeshError(e) && e.code === 'ERR_GRPC_STATUS' && e.details.grpcStatus === 14,
    );
  });

  it('mirrors a copy fire-and-forget to the mirror destination; its failure never reaches the caller', async () => {
    const seen: { req: TestRequest; decision: RouteDecision | undefined }[] = [];
    const next = async (req: TestRequest, ctx: CallContext): Promise<Res> => {
      const decision = ctx.get(routeDecision);
      seen.push({ req, decision });
      if (decision?.mirror) throw new Error('mirror is down');
      return { status: 200, headers: {} };
    };
    const t = table(
      virtualService(`  - route: [{ destination: { host: svc, subset: v1 } }]
    mirror: { host: svc, subset: v2 }
    mirrorPercentage: { value: 100 }
    timeout: 1s`),
    );
    const res = await routing({ routes: t, host: 'svc', adapter: testAdapter }).wrap(next)(
      get('/x'),
      createContext(),
    );
    assert.equal(res.status, 200);
    assert.equal(seen.length, 2);
    const mirror = seen.find((s) => s.decision?.mirror)!;
    assert.equal(mirror.decision?.subset, 'v2');
    assert.equal(
      mirror.decision?.timeoutMs,
      undefined,
      'the mirror carries no retry or timeout of the route',
    );
    assert.equal(mirror.req.authority, 'svc-shadow');
    assert.equal(seen.find((s) => !s.decision?.mirror)!.decision?.timeoutMs, 1_000);
  });

  it('a mirrored copy is not cancelled when its caller is', async () => {
    const mirrored: CallContext[] = [];
    const next = async (_req: TestRequest, ctx: CallContext): Promise<Res> => {
      if (ctx.get(routeDecision)?.mirror) mirrored.push(ctx);
      return { status: 200, headers: {} };
    };
    const t = table(
      virtualService('  - route: [{ destination: { host: svc } }]\n    mirror: { host: svc-copy }'),
    );
    const controller = new AbortController();
    const caller = createContext({ signal: controller.signal, timeoutMs: 5_000 });
    await routing({ routes: t, host: 'svc', adapter: testAdapter }).wrap(next)(get('/'), caller);
    controller.abort();
    assert.equal(caller.aborted, true);
    assert.equal(mirrored[0]!.aborted, false);
    assert.equal(mirrored[0]!.deadline, caller.deadline, 'the copy does not outlive the call it copies');
    assert.equal(mirrored[0]!.get(routeDecision)?.host, 'svc-copy');
  });

  it('applies request and response header operations (set, add, remove; route then destination)', async () => {
    const { seen, next } = recorder();
    const t = table(
      virtualService(`  - headers:
      request: { set: { x-route: r1 }, add: { x-trace: b }, remove: [x-secret] }
      response: { set: { x-served-by: mesh }, remove: [server] }
    route:
    - destination: { host: svc }
      headers: { request: { set: { x-dest: d } } }`),
    );
    const res = await routing({ routes: t, host: 'svc', adapter: testAdapter }).wrap(next)(
      get('/', { 'x-trace': 'a', 'x-secret': 's', keep: 'k' }),
      createContext(),
    );
    assert.deepEqual(seen[0]!.req.headers, { 'x-trace': 'a,b', keep: 'k', 'x-route': 'r1', 'x-dest': 'd' });
    assert.deepEqual(res.headers, { 'x-served-by': 'mesh' });
  });

  it('rewrites the matched prefix and the authority', async () => {
    const { seen, next } = recorder();
    const t = table(
      virtualService(`  - match: [{ uri: { prefix: /v1/users } }]
    rewrite: { uri: /users, authority: users.internal }
    route: [{ destination: { host: svc } }]`),
    );
    await routing({ routes: t, host: 'svc', adapter: testAdapter }).wrap(next)(
      get('/v1/users/42?x=1'),
      createContext(),
    );
    assert.equal(seen[0]!.req.path, '/users/42?x=1');
    assert.equal(seen[0]!.req.authority, 'users.internal');
  });

  it('answers a redirect rule without calling below', async () => {
    const { seen, next } = recorder();
    const t = table(virtualService('  - redirect: { uri: /v2/users, redirectCode: 308 }'));
    const res = await routing({ routes: t, host: 'svc', adapter: testAdapter }).wrap(next)(
      get('/users'),
      createContext(),
    );
    assert.deepEqual(res, { status: 308, headers: { location: '/v2/users' } });
    assert.equal(seen.length, 0);
  });

  it('takes subset labels and the merged traffic policy from the DestinationRule', async () => {
    const t =
      table(`${virtualService('  - route: [{ destination: { host: svc, subset: canary, port: { number: 8080 } } }]')}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: svc }
spec:
  host: svc.default.svc.cluster.local
  trafficPolicy:
    loadBalancer: { simple: LEAST_REQUEST }
    outlierDetection: { consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s }
  subsets:
  - name: canary
    labels: { track: canary }
    trafficPolicy:
      loadBalancer: { consistentHash: { httpHeaderName: X-User } }
`);
    const d = routing({ routes: t, host: 'svc', adapter: testAdapter }).decide(get('/'), createContext())!;
    assert.deepEqual(d.subsetLabels, { track: 'canary' });
    assert.equal(d.port, 8080);
    assert.deepEqual(d.trafficPolicy?.loadBalancer, {
      simple: undefined,
      consistentHash: {
        httpHeaderName: 'x-user',
        httpCookie: undefined,
        httpQueryParameterName: undefined,
        useSourceIp: undefined,
      },
    });
    assert.deepEqual(d.trafficPolicy?.outlierDetection, {
      consecutive5xxErrors: 5,
      consecutiveGatewayErrors: undefined,
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionPercent: undefined,
    });
  });

  it('hands down the consistent-hash key the DestinationRule names: header, cookie or query parameter', async () => {
    const keyOf = async (hash: string, req: TestRequest) => {
      const t = table(`${virtualService('  - route: [{ destination: { host: svc } }]')}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: svc }
spec:
  host: svc
  trafficPolicy: { loadBalancer: { consistentHash: ${hash} } }
`);
      let key: string | undefined;
      await routing({ routes: t, host: 'svc', adapter: testAdapter }).wrap(async (_req, ctx) => {
        key = ctx.get(routeHashKey);
        return { status: 200, headers: {} };
      })(req, createContext());
      return key;
    };
    assert.equal(await keyOf('{ httpHeaderName: X-User }', get('/', { 'x-user': 'ada' })), 'ada');
    assert.equal(await keyOf('{ httpHeaderName: x-user }', get('/')), undefined);
    assert.equal(
      await keyOf('{ httpCookie: { name: sid, ttl: 0s } }', get('/', { cookie: 'a=1; sid=s42' })),
      's42',
    );
    assert.equal(await keyOf('{ httpQueryParameterName: tenant }', get('/x?tenant=acme')), 'acme');
  });

  it('reuses one decision object per destination (nothing allocated per pick)', () => {
    const t = table(
      virtualService(
        '  - route: [{ destination: { host: svc, subset: a }, weight: 50 }, { destination: { host: svc, subset: b }, weight: 50 }]',
      ),
    );
    const layer = routing({ routes: t, host: 'svc', adapter: testAdapter, random: seededRandom(3) });
    const decisions = new Set<RouteDecision>();
    for (let i = 0; i < 100; i++) decisions.add(layer.decide(get('/'), createContext())!);
    assert.equal(decisions.size, 2);
  });

  it('publishes each routing outcome on meshkit:routing:route', async () => {
    const events: RouteEvent[] = [];
    const listen = (e: unknown) => events.push(e as RouteEvent);
    routeChannel.subscribe(listen);
    try {
      const t = table(
        virtualService(`  - match: [{ uri: { prefix: /old } }]
    redirect: { uri: /new }
  - match: [{ uri: { prefix: /broken } }]
    fault: { abort: { httpStatus: 500 } }
    route: [{ destination: { host: svc } }]
  - match: [{ uri: { prefix: /a } }]
    route: [{ destination: { host: svc, subset: v1 } }]`),
      );
      const { next } = recorder();
      const call = routing({ routes: t, host: 'svc', adapter: testAdapter }).wrap(next);
      await call(get('/a'), createContext());
      await call(get('/old'), createContext());
      await call(get('/broken'), createContext()).catch(() => {});
      await call(get('/none'), createContext()).catch(() => {});
      assert.deepEqual(
        events.map((e) => [e.decision?.subset, e.fault, e.redirected]),
        [
          ['v1', undefined, undefined],
          [undefined, undefined, true],
          [undefined, 'abort', undefined],
          [undefined, undefined, undefined],
        ],
      );
    } finally {
      routeChannel.unsubscribe(listen);
    }
  });

  it('checks its options', () => {
    const t = table(virtualService('  - route: [{ destination: { host: svc } }]'));
    assert.throws(() => routing({ routes: t, host: '', adapter: testAdapter }), /routing.host/);
    assert.throws(
      () => routing({ routes: undefined as never, host: 'svc', adapter: testAdapter }),
      /routing.routes/,
    );
    assert.throws(
      () => routing({ routes: { table: {} } as never, host: 'svc', adapter: testAdapter }),
      /routing.routes/,
    );
    assert.throws(() => routing({ routes: t, host: 'svc', adapter: {} as never }), /routing.adapter.view/);
  });
});
