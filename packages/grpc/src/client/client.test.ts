import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { roundRobin } from '@meshkit/balance';
import { ErrorCode, isAbortError } from '@meshkit/core';
import { constantBackoff } from '@meshkit/policies';
import { fieldViolations } from '../details.ts';
import { GrpcStatusError } from '../errors.ts';
import { type User, UserService } from '../gen/user/user_service_pb.ts';
import { type GrpcServer, grpcServer } from '../server/server.ts';
import type { ServiceImpl } from '../server/types.ts';
import { memoryUsers } from '../test-support/users.ts';
import { Status } from '../wire/status.ts';
import { grpcClient } from './client.ts';

const servers: GrpcServer[] = [];
const clients: { $close(): Promise<void> }[] = [];

async function serve(impl: Partial<ServiceImpl<typeof UserService>> = {}): Promise<{
  server: GrpcServer;
  address: string;
}> {
  const users = memoryUsers();
  const server = grpcServer({ shutdownGraceMs: 2_000 }).add(UserService, { ...users.impl, ...impl });
  servers.push(server);
  const { address } = await server.listen();
  return { server, address };
}

function client(
  endpoints: string[],
  options: Parameters<typeof grpcClient>[1] extends infer O ? Partial<O> : never = {},
) {
  const c = grpcClient(UserService, {
    service: 'users',
    endpoints,
    ...options,
    policies: { retry: { backoff: constantBackoff(1) }, ...options.policies },
  });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.$close();
  for (const s of servers.splice(0)) await s.close();
});

describe('grpcClient endpoints', () => {
  it('an address that is not host:port fails at construction, naming the entry', () => {
    for (const address of ['not a url', '127.0.0.1:99999', 'localhost', 'h:1/x']) {
      assert.throws(
        () => grpcClient(UserService, { service: 'seed', endpoints: ['127.0.0.1:1', address] }),
        (error: Error) => error.message.startsWith('grpcClient.endpoints[1] must be host:port'),
        address,
      );
    }
    for (const address of ['localhost:50051', '[::1]:50051']) {
      grpcClient(UserService, { service: 'seed', endpoints: [address] });
    }
  });
});

describe('grpcClient', () => {
  it('calls unary methods with typed messages and a typed NOT_FOUND', async () => {
    const { address } = await serve();
    const users = client([address]);
    const created = await users.createUser({ email: 'ada@example.com', name: 'Ada' });
    const got: User = await users.getUser({ id: created.id });
    assert.equal(got.email, 'ada@example.com');
    assert.equal(got.createdAt, 9_007_199_254_740_993n + BigInt(created.id));
    await assert.rejects(users.createUser({ email: 'no-at-sign' }), (err: unknown) => {
      assert.ok(err instanceof GrpcStatusError);
      assert.equal(err.status, Status.INVALID_ARGUMENT);
      assert.deepEqual(
        fieldViolations(err).map((v) => v.field),
        ['email'],
      );
      return true;
    });
    await assert.rejects(users.getUser({ id: 'nobody' }), (err: unknown) => {
      assert.ok(err instanceof GrpcStatusError);
      assert.equal(err.status, Status.NOT_FOUND);
      return true;
    });
  });

  it('retries UNAVAILABLE for a method marked idempotent, not for one that is not', async () => {
    let gets = 0;
    let creates = 0;
    const { address } = await serve({
      getUser: (request) => {
        if (++gets < 3) throw new GrpcStatusError(Status.UNAVAILABLE, 'warming up');
        return { id: request.id };
      },
      createUser: () => {
        creates++;
        throw new GrpcStatusError(Status.UNAVAILABLE, 'warming up');
      },
    });
    const users = client([address], { idempotentMethods: ['getUser'] });
    assert.equal((await users.getUser({ id: '7' })).id, '7');
    assert.equal(gets, 3);
    await assert.rejects(users.createUser({ email: 'a@b' }), (err: unknown) => {
      return err instanceof GrpcStatusError && err.status === Status.UNAVAILABLE;
    });
    assert.equal(creates, 1, 'a non-idempotent call that reached the server is not repeated');
  });

  it('hedges a slow idempotent call; the losing attempt is cancelled on its server', async () => {
    let calls = 0;
    const cancelled: unknown[] = [];
    const { address } = await serve({
      getUser: async (request, call) => {
        if (++calls === 1) {
          await new Promise<void>((resolve) => call.ctx.onAbort(() => resolve()));
          cancelled.push(call.ctx.abortReason);
          return { id: 'slow' };
        }
        return { id: request.id };
      },
    });
    const users = client([address], {
      idempotentMethods: ['getUser'],
      policies: { retry: false, hedge: { delayMs: 20 } },
    });
    assert.equal((await users.getUser({ id: 'fast' })).id, 'fast');
    assert.equal(calls, 2);
    while (cancelled.length === 0) await new Promise((r) => setTimeout(r, 5));
  });

  it('does not retry a status about the request (NOT_FOUND, INVALID_ARGUMENT)', async () => {
    let calls = 0;
    const { address } = await serve({
      getUser: () => {
        calls++;
        throw new GrpcStatusError(Status.INVALID_ARGUMENT, 'bad id');
      },
    });
    const users = client([address], { idempotentMethods: ['getUser'] });
    await assert.rejects(users.getUser({ id: 'x' }));
    assert.equal(calls, 1);
  });

  it('honours grpc-retry-pushback-ms: a negative pushback stops retries, a zero one allows them', async () => {
    let calls = 0;
    const { address } = await serve({
      getUser: (request, call) => {
        calls++;
        call.setTrailer({ 'grpc-retry-pushback-ms': request.id === 'stop' ? '-1' : '0' });
        if (request.id === 'stop' || calls < 2) throw new GrpcStatusError(Status.RESOURCE_EXHAUSTED, 'busy');
        return { id: request.id };
      },
    });
    const users = client([address], { idempotentMethods: ['getUser'] });
    assert.equal((await users.getUser({ id: 'go' })).id, 'go');
    assert.equal(calls, 2);
    calls = 0;
    await assert.rejects(users.getUser({ id: 'stop' }));
    assert.equal(calls, 1);
  });

  it('retries a non-idempotent call when the request was never sent (connection refused)', async () => {
    const dead = await serve();
    const deadAddress = dead.address;
    await dead.server.close();
    let creates = 0;
    const live = await serve({
      createUser: (request) => {
        creates++;
        return { id: 'n', email: request.email };
      },
    });
    // Round robin over the dead endpoint first: its refusal is retried on the live one.
    const users = client([deadAddress, live.address], { picker: roundRobin() });
    for (let i = 0; i < 4; i++) assert.equal((await users.createUser({ email: 'a@b' })).id, 'n');
    assert.equal(creates, 4);
  });

  it('fails over when one of three servers shuts down gracefully mid-load, losing no call', async () => {
    const a = await serve();
    const b = await serve();
    const c = await serve();
    for (const s of [a, b, c]) {
      // Each server knows user '1'.
      await grpcClient(UserService, { service: 'seed', endpoints: [s.address] }).createUser({ email: 'x@y' });
    }
    const users = client([a.address, b.address, c.address], {
      idempotentMethods: ['getUser'],
      policies: { retry: { backoff: constantBackoff(1), maxAttempts: 4 } },
    });
    const results: string[] = [];
    const load = Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 25; i++) results.push((await users.getUser({ id: '1' })).id);
    });
    const kill = (async () => {
      while (results.length < 40) await new Promise((r) => setImmediate(r));
      await b.server.close();
    })();
    await Promise.all([...load, kill]);
    assert.equal(results.length, 200);
    assert.ok(results.every((id) => id === '1'));
  });

  it('propagates the deadline, traceparent and request id over two hops; the caller gets DEADLINE_EXCEEDED', async () => {
    const farDeadlines: (number | undefined)[] = [];
    const farTrace: unknown[] = [];
    const far = await serve({
      getUser: async (_request, call) => {
        farDeadlines.push(call.ctx.deadline);
        farTrace.push(call.metadata.traceparent, call.metadata['x-request-id']);
        await new Promise<void>((resolve) => call.ctx.onAbort(() => resolve()));
        return { id: 'never' };
      },
    });
    const farClient = client([far.address], { policies: { retry: false } });
    let middleDeadline: number | undefined;
    const middle = await serve({
      getUser: async (request, call) => {
        middleDeadline = call.ctx.deadline;
        return farClient.getUser({ id: request.id }, { ctx: call.ctx });
      },
    });
    const users = client([middle.address], { policies: { retry: false } });
    const trace = {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'x-request-id': 'r-9',
    };
    await assert.rejects(users.getUser({ id: '1' }, { timeoutMs: 300, metadata: trace }), (err: unknown) => {
      assert.ok(err instanceof GrpcStatusError || (err as { code?: string }).code !== undefined);
      assert.equal((err as { code: string }).code, ErrorCode.DEADLINE_EXCEEDED);
      return true;
    });
    assert.ok(middleDeadline !== undefined);
    assert.equal(farDeadlines.length, 1);
    // The far end's deadline is its arrival time plus what was left when the middle sent: later than the
    // middle's only by the transit time, and far below what the far end would have without propagation.
    assert.ok(farDeadlines[0] !== undefined && farDeadlines[0] < middleDeadline + 1_000);
    assert.deepEqual(farTrace, [trace.traceparent, 'r-9'], 'trace context and request id crossed both hops');
  });

  it('aborts a server stream at its deadline with ERR_DEADLINE_EXCEEDED; the server handler ends', async () => {
    const ended: string[] = [];
    const { address } = await serve({
      async *streamUserEvents(request, call) {
        try {
          yield { userId: request.userId, timestamp: 1n };
          await new Promise<void>((resolve) => call.ctx.onAbort(() => resolve()));
        } finally {
          ended.push(request.userId);
        }
      },
    });
    const users = client([address]);
    const received: bigint[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of users.streamUserEvents({ userId: 'd' }, { timeoutMs: 200 })) {
          received.push(event.timestamp);
        }
      })(),
      (err: unknown) => (err as { code?: string }).code === ErrorCode.DEADLINE_EXCEEDED,
    );
    assert.deepEqual(received, [1n]);
    while (!ended.includes('d')) await new Promise((r) => setTimeout(r, 5));
  });

  it('cancels a server stream on the server when the caller breaks or aborts', async () => {
    const ended: string[] = [];
    const { address, server } = await serve({
      async *streamUserEvents(request, call) {
        try {
          for (let i = 0n; !call.ctx.aborted; i++) {
            yield { userId: request.userId, timestamp: i };
            await new Promise((r) => setTimeout(r, 2));
          }
        } finally {
          ended.push(request.userId);
        }
      },
    });
    const users = client([address]);
    for await (const event of users.streamUserEvents({ userId: 'b' })) {
      if (event.timestamp === 3n) break;
    }
    const controller = new AbortController();
    await assert.rejects(
      (async () => {
        for await (const event of users.streamUserEvents({ userId: 'a' }, { signal: controller.signal })) {
          if (event.timestamp === 2n) controller.abort();
        }
      })(),
      (err: unknown) => isAbortError(err),
    );
    while (ended.length < 2) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(ended.sort(), ['a', 'b']);
    assert.equal(server.inFlight, 0);
  });

  it('holds a server stream in the balancer until it completes, not until its headers', async () => {
    const { address } = await serve({
      async *streamUserEvents(request, call) {
        for (let i = 0n; !call.ctx.aborted; i++) {
          yield { userId: request.userId, timestamp: i };
          await new Promise((r) => setTimeout(r, 2));
        }
      },
    });
    const users = client([address]);
    const inFlight = (): number =>
      (users.$describe().balancer as { endpoints: { inFlight: number }[] }).endpoints[0]!.inFlight;
    const seen: number[] = [];
    for await (const event of users.streamUserEvents({ userId: 's' })) {
      seen.push(inFlight());
      if (event.timestamp === 2n) break;
    }
    assert.deepEqual(seen, [1, 1, 1], 'counted while messages flow');
    assert.equal(inFlight(), 0, 'released once the caller stopped reading');
  });

  it('keeps a slow stream reader from growing server memory: the producer waits for the reader', async () => {
    let produced = 0;
    const { address } = await serve({
      async *streamUserEvents(request) {
        for (;;) {
          produced++;
          yield { userId: request.userId.repeat(1), timestamp: BigInt(produced) };
        }
      },
    });
    const users = client([address], { transport: { streamBufferMessages: 4 } });
    const iterator = users.streamUserEvents({ userId: 'x'.repeat(1000) })[Symbol.asyncIterator]();
    await iterator.next();
    // Give the producer every chance to run ahead, then check it was held back by flow control.
    for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 2));
    const ahead = produced;
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(produced, ahead, 'the producer stopped while nobody read');
    // ~1 KB messages: bounded by the HTTP/2 window (64 KiB) plus the stream buffers, far below unbounded.
    assert.ok(ahead < 500, `produced ${ahead} messages ahead of the reader`);
    await iterator.return?.();
  });
});

describe('graceful shutdown', () => {
  after(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('finishes in-flight calls and refuses new ones', async () => {
    let release: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = 0;
    const { server, address } = await serve({
      getUser: async (request) => {
        started++;
        await gate;
        return { id: request.id };
      },
    });
    const users = client([address], { policies: { retry: false } });
    const inFlight = Array.from({ length: 5 }, (_, i) => users.getUser({ id: String(i) }));
    while (started < 5) await new Promise((r) => setTimeout(r, 2));
    const closing = server.close();
    assert.equal(server.health.get('user.UserService'), 2 /* NOT_SERVING */);
    release!();
    const done = await Promise.all(inFlight);
    assert.deepEqual(
      done.map((u) => u.id),
      ['0', '1', '2', '3', '4'],
    );
    await closing;
    await assert.rejects(users.getUser({ id: 'late' }));
  });

  it('cancels calls that outlive the grace period with UNAVAILABLE', async () => {
    const users = memoryUsers();
    const aborted: unknown[] = [];
    const server = grpcServer({ shutdownGraceMs: 50 }).add(UserService, {
      ...users.impl,
      getUser: async (_request, call) => {
        await new Promise<void>((resolve) => call.ctx.onAbort(() => resolve()));
        aborted.push(call.ctx.abortReason);
        return { id: 'late' };
      },
    });
    const { address } = await server.listen();
    const c = client([address], { policies: { retry: false } });
    const pending = c.getUser({ id: '1' });
    while (server.inFlight === 0) await new Promise((r) => setTimeout(r, 2));
    const refused = assert.rejects(
      pending,
      (err: unknown) => err instanceof GrpcStatusError && err.status === Status.UNAVAILABLE,
    );
    await server.close();
    await refused;
    assert.equal(aborted.length, 1);
  });
});
