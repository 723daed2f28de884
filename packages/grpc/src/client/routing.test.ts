// gRPC calls steered by Istio VirtualService rules end to end: two registered grpcServer instances
// (version v1 and v2) in an embedded registry, the seed's canary VirtualService adapted to the gRPC host.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createContext } from '@meshkit/core';
import { embeddedRegistry, type Registry } from '@meshkit/discovery';
import { compileRoutes, parseRoutes, type RouteTable, routing } from '@meshkit/routing';
import { GrpcStatusError } from '../errors.ts';
import { UserService } from '../gen/user/user_service_pb.ts';
import { type GrpcServer, grpcServer } from '../server/server.ts';
import { memoryUsers } from '../test-support/users.ts';
import { Status } from '../wire/status.ts';
import { grpcClient } from './client.ts';
import { grpcRouteAdapter } from './route-adapter.ts';

const host = 'user-service-grpc';
const seed = join(import.meta.dirname, '../../../routing/src/fixtures/seed-canary.yaml');

/** A deterministic generator of numbers in [0, 1) (mulberry32), so the weighted split is reproducible. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function table(yaml: string, file: string): RouteTable {
  const { config, issues, ok } = parseRoutes(yaml, file);
  assert.ok(ok, issues.map((i) => i.message).join('\n'));
  return compileRoutes(config);
}

/**
 * The seed's VirtualService for the gRPC host: the same rules (x-canary: true → v2, else 90/10), each
 * with Istio retries on the gRPC status UNAVAILABLE.
 */
async function seedForGrpc(): Promise<RouteTable> {
  const yaml = (await readFile(seed, 'utf8'))
    .replaceAll('user-service', host)
    .replace('      route:', '      retries: { attempts: 2, retryOn: unavailable }\n      route:')
    .replace('    - route:', '    - retries: { attempts: 2, retryOn: unavailable }\n      route:');
  return table(yaml, 'seed-canary.yaml (gRPC)');
}

describe('grpcClient routed by VirtualService rules', () => {
  let dir: string;
  let registry: Registry;
  const servers: GrpcServer[] = [];
  const hits: Record<string, string[]> = { v1: [], v2: [] };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshkit-grpc-routing-'));
    registry = embeddedRegistry({ path: join(dir, 'registry.db') });
    for (const version of ['v1', 'v2']) {
      const failed = new Set<string>();
      const server = grpcServer({
        registration: { registry, service: host, version, deregisterGraceMs: 0 },
      }).add(UserService, {
        ...memoryUsers().impl,
        getUser: ({ id }) => {
          hits[version]!.push(id);
          // Each "flaky" id fails its first call with UNAVAILABLE, as an instance going away would.
          if (id.startsWith('flaky') && !failed.has(id)) {
            failed.add(id);
            throw new GrpcStatusError(Status.UNAVAILABLE, 'going away');
          }
          return { id, name: version };
        },
        listUsers: () => ({ users: [{ id: 'list', name: version }] }),
      });
      await server.listen();
      servers.push(server);
    }
  });

  after(async () => {
    for (const server of servers) await server.close();
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  function client(routes: RouteTable) {
    return grpcClient(UserService, {
      service: host,
      registry,
      route: routing({ routes, host, adapter: grpcRouteAdapter, random: seededRandom(42) }),
      idempotentMethods: ['getUser'],
      policies: { breaker: false },
    });
  }

  it('sends x-canary: true calls to v2 and splits the rest 90/10, as the seed VirtualService says', async () => {
    const users = client(await seedForGrpc());
    try {
      for (let i = 0; i < 50; i++) {
        const user = await users.getUser({ id: `c${i}` }, { metadata: { 'x-canary': 'true' } });
        assert.equal(user.name, 'v2');
      }
      // The header may also come from the caller's context metadata, as a propagated header would.
      const ctx = createContext({ metadata: { 'x-canary': 'true' } });
      assert.equal((await users.getUser({ id: 'ctx' }, { ctx })).name, 'v2');
      const counts: Record<string, number> = { v1: 0, v2: 0 };
      for (let i = 0; i < 1_000; i++) counts[(await users.getUser({ id: `p${i}` })).name]!++;
      // n p = 100, sd = sqrt(1000 * 0.1 * 0.9) = 9.5; 3.29 sd (99.9%) is 31.
      assert.ok(counts.v2! >= 69 && counts.v2! <= 131, `v2 took ${counts.v2} of 1,000`);
      assert.equal(counts.v1! + counts.v2!, 1_000);
    } finally {
      await users.$close();
    }
  });

  it("retries UNAVAILABLE under the route's retryOn: unavailable, on the route's subset", async () => {
    const users = client(await seedForGrpc());
    try {
      const user = await users.getUser({ id: 'flaky-1' }, { metadata: { 'x-canary': 'true' } });
      assert.equal(user.name, 'v2');
      assert.deepEqual(
        hits.v2!.filter((id) => id === 'flaky-1'),
        ['flaky-1', 'flaky-1'],
        'failed once, then retried on v2',
      );
      assert.deepEqual(
        hits.v1!.filter((id) => id === 'flaky-1'),
        [],
      );
    } finally {
      await users.$close();
    }
  });

  it('does not retry a status the route does not name', async () => {
    const routes = table(
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: users }
spec:
  hosts: [${host}]
  http:
    - retries: { attempts: 3, retryOn: cancelled,resource-exhausted }
      route: [{ destination: { host: ${host}, subset: v1 } }]
`,
      'no-unavailable.yaml',
    );
    const users = client(routes);
    try {
      await assert.rejects(
        users.getUser({ id: 'flaky-2' }),
        (err: unknown) => err instanceof GrpcStatusError && err.status === Status.UNAVAILABLE,
      );
      assert.deepEqual(
        hits.v1!.filter((id) => id === 'flaky-2'),
        ['flaky-2'],
      );
    } finally {
      await users.$close();
    }
  });

  it('matches the method path with uri exact and prefix, as Istio matches /package.Service/Method', async () => {
    const routes = table(
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: users }
spec:
  hosts: [${host}]
  http:
    - match: [{ uri: { exact: /user.UserService/GetUser } }]
      route: [{ destination: { host: ${host}, subset: v2 } }]
    - match: [{ uri: { prefix: /user.UserService/ } }]
      route: [{ destination: { host: ${host}, subset: v1 } }]
`,
      'methods.yaml',
    );
    const users = client(routes);
    try {
      for (let i = 0; i < 10; i++) {
        assert.equal((await users.getUser({ id: `m${i}` })).name, 'v2');
        assert.equal((await users.listUsers({})).users[0]?.name, 'v1');
      }
    } finally {
      await users.$close();
    }
  });
});

describe('grpcRouteAdapter', () => {
  const req = {
    method: UserService.method.getUser,
    metadata: { 'x-tenant': ['a', 'b'], 'trace-bin': new Uint8Array([1]), 'x-canary': 'true' },
  };

  it('shows a call as Istio sees it: POST /package.Service/Method, text metadata as headers', () => {
    const ctx = createContext({ metadata: { traceparent: '00-abc-def-01', 'X-Canary': 'false' } });
    assert.deepEqual(grpcRouteAdapter.view(req, ctx), {
      method: 'POST',
      path: '/user.UserService/GetUser',
      headers: {
        'content-type': 'application/grpc',
        traceparent: '00-abc-def-01',
        'x-canary': 'true',
        'x-tenant': 'a,b',
      },
    });
  });

  it('applies header operations to the metadata, keeps binary metadata, refuses a rewrite to another method', () => {
    const changed = grpcRouteAdapter.withRequest!(req, {
      headers: { 'content-type': 'application/grpc', 'x-canary': 'true', 'x-route': 'v2' },
    });
    assert.deepEqual(changed.metadata, {
      'x-canary': 'true',
      'x-route': 'v2',
      'trace-bin': new Uint8Array([1]),
    });
    assert.equal(grpcRouteAdapter.withRequest!(req, { path: '/user.UserService/GetUser' }), req);
    assert.throws(
      () => grpcRouteAdapter.withRequest!(req, { path: '/user.UserService/ListUsers' }),
      /rewrite\.uri/,
    );
  });
});
