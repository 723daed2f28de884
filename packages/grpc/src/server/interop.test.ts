// Our server against stock @grpc/grpc-js + @grpc/proto-loader clients: no meshkit code on the client side.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { create, fromBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { GrpcStatusError } from '../errors.ts';
import { BadRequestSchema } from '../gen/google/rpc/error_details_pb.ts';
import { StatusSchema } from '../gen/google/rpc/status_pb.ts';
import { EventType, UserEventSchema, UserService } from '../gen/user/user_service_pb.ts';
import { stockDefinitions, stockUnary } from '../test-support/stock.ts';
import { memoryUsers } from '../test-support/users.ts';
import { Status } from '../wire/status.ts';
import { type GrpcServer, grpcServer } from './server.ts';
import type { ServerCall } from './types.ts';

describe('grpcServer with a stock grpc-js client', () => {
  const { UserService: StockUsers, Health: StockHealth } = stockDefinitions();
  const users = memoryUsers();
  const seen: { deadline?: number | undefined; aborted?: unknown; metadata?: ServerCall['metadata'] } = {};
  const streamsEnded: string[] = [];
  let server: GrpcServer;
  let client: grpc.Client;
  let address: string;

  before(async () => {
    server = grpcServer({ maxReceiveMessageBytes: 1024 }).add(UserService, {
      ...users.impl,
      async getUser(request, call) {
        if (request.id === 'slow') {
          seen.deadline = call.ctx.deadline;
          await new Promise<void>((resolve) => call.ctx.onAbort(() => resolve()));
          seen.aborted = call.ctx.abortReason;
          return { id: 'too late' };
        }
        if (request.id === 'echo') {
          seen.metadata = call.metadata;
          call.sendHeader({ 'x-header': 'h1', 'x-header-bin': Buffer.from([0, 1, 2, 255]) });
          call.setTrailer({ 'x-trailer': 't1', 'x-trailer-bin': Buffer.from([9, 8, 7]) });
          return { id: 'echo', name: String(call.metadata['x-name']) };
        }
        if (request.id === 'fail-with-trailer') {
          call.setTrailer({ 'x-reason': 'quota' });
          throw new GrpcStatusError(Status.RESOURCE_EXHAUSTED, 'slow down', {
            metadata: { 'grpc-retry-pushback-ms': '250' },
          });
        }
        if (request.id === 'boom') throw new Error('secret internals');
        return users.impl.getUser(request, call);
      },
      async *streamUserEvents(request, call) {
        try {
          yield* users.impl.streamUserEvents(request, call);
        } finally {
          streamsEnded.push(request.userId);
        }
      },
    });
    ({ address } = await server.listen());
    client = new StockUsers(address, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await server.close();
  });

  it('creates and gets a user; int64 past 2^53 arrives exact', async () => {
    const created = await stockUnary(client, 'createUser', { email: 'ada@example.com', name: 'Ada' });
    const user = created.response as { id: string; createdAt: string; status: string };
    assert.equal(user.status, 'ACTIVE');
    assert.equal(user.createdAt, (9_007_199_254_740_993n + BigInt(user.id)).toString());
    const got = await stockUnary(client, 'getUser', { id: user.id });
    assert.deepEqual(got.response, created.response);
    assert.equal(got.status.code, grpc.status.OK);
  });

  it('lists users with a page token', async () => {
    await stockUnary(client, 'createUser', { email: 'bob@example.com', name: 'Bob' });
    const first = (await stockUnary(client, 'listUsers', { pageSize: 1 })).response as {
      users: unknown[];
      nextPageToken: string;
    };
    assert.equal(first.users.length, 1);
    assert.notEqual(first.nextPageToken, '');
    const second = (await stockUnary(client, 'listUsers', { pageSize: 1, pageToken: first.nextPageToken }))
      .response as { users: { name: string }[] };
    assert.equal(second.users.length, 1);
  });

  it('answers NOT_FOUND with its message', async () => {
    await assert.rejects(stockUnary(client, 'getUser', { id: 'nobody' }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.equal(err.details, 'no user nobody');
      return true;
    });
  });

  it('maps our InvalidArgumentError to INVALID_ARGUMENT with a google.rpc.BadRequest naming the field', async () => {
    await assert.rejects(
      stockUnary(client, 'createUser', { email: 'no-at-sign', name: 'X' }),
      (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
        assert.match(err.details, /email/);
        // Decoded from the bytes the stock client received, as any rich-error-model client would.
        const [bytes] = err.metadata.get('grpc-status-details-bin') as Buffer[];
        const status = fromBinary(StatusSchema, bytes!);
        assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
        const detail = anyUnpack(status.details[0]!, BadRequestSchema);
        assert.deepEqual(
          detail?.fieldViolations.map((v) => v.field),
          ['email'],
        );
        return true;
      },
    );
  });

  it('answers UNKNOWN without leaking an unexpected error', async () => {
    await assert.rejects(stockUnary(client, 'getUser', { id: 'boom' }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNKNOWN);
      assert.doesNotMatch(err.details, /secret/);
      return true;
    });
  });

  it('carries text and -bin metadata both ways, in headers and trailers', async () => {
    const md = new grpc.Metadata();
    md.set('x-name', 'Grace');
    md.set('x-blob-bin', Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    const { response, headers, status } = await stockUnary(
      client,
      'getUser',
      { id: 'echo' },
      { metadata: md },
    );
    assert.equal((response as { name: string }).name, 'Grace');
    assert.deepEqual(seen.metadata?.['x-blob-bin'], Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    assert.deepEqual(headers?.get('x-header'), ['h1']);
    assert.deepEqual(headers?.get('x-header-bin'), [Buffer.from([0, 1, 2, 255])]);
    assert.deepEqual(status.metadata.get('x-trailer'), ['t1']);
    assert.deepEqual(status.metadata.get('x-trailer-bin'), [Buffer.from([9, 8, 7])]);
  });

  it('sends trailers with an error status (trailers-only response)', async () => {
    await assert.rejects(
      stockUnary(client, 'getUser', { id: 'fail-with-trailer' }),
      (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
        assert.equal(err.details, 'slow down');
        assert.deepEqual(err.metadata.get('x-reason'), ['quota']);
        assert.deepEqual(err.metadata.get('grpc-retry-pushback-ms'), ['250']);
        return true;
      },
    );
  });

  it('reads grpc-timeout into the handler deadline and answers DEADLINE_EXCEEDED at it', async () => {
    const before = Date.now();
    await assert.rejects(
      stockUnary(client, 'getUser', { id: 'slow' }, { deadline: new Date(Date.now() + 200) }),
      (err: grpc.ServiceError) => err.code === grpc.status.DEADLINE_EXCEEDED,
    );
    assert.ok(seen.deadline !== undefined && seen.deadline >= before && seen.deadline <= Date.now() + 1_000);
    // The handler saw its context cancelled.
    while (seen.aborted === undefined) await new Promise((r) => setTimeout(r, 5));
    assert.ok(seen.aborted !== undefined);
  });

  it('answers UNIMPLEMENTED for an unknown method', async () => {
    await new Promise<void>((resolve) => {
      client.makeUnaryRequest(
        '/user.UserService/DeleteUser',
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (err) => {
          assert.equal(err?.code, grpc.status.UNIMPLEMENTED);
          resolve();
        },
      );
    });
  });

  it('refuses an oversize request with RESOURCE_EXHAUSTED', async () => {
    await assert.rejects(
      stockUnary(client, 'createUser', { email: 'a@b', name: 'x'.repeat(4096) }),
      (err: grpc.ServiceError) => err.code === grpc.status.RESOURCE_EXHAUSTED,
    );
  });

  it('answers INTERNAL for a request that is not the message', async () => {
    await new Promise<void>((resolve) => {
      client.makeUnaryRequest(
        '/user.UserService/GetUser',
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.from([0xff, 0xff, 0xff]),
        (err) => {
          assert.equal(err?.code, grpc.status.INTERNAL);
          resolve();
        },
      );
    });
  });

  it('streams user events, and a client cancel ends the handler', async () => {
    const call = (
      client as unknown as { streamUserEvents(req: unknown): grpc.ClientReadableStream<{ type: string }> }
    ).streamUserEvents({ userId: 'u-7' });
    const received: { userId: string; type: string; timestamp: string }[] = [];
    call.on('error', () => {});
    // Headers are sent with the first message; publish until the subscription is live.
    const first = once(call, 'data');
    const pump = setInterval(() => {
      users.publish(
        create(UserEventSchema, { userId: 'u-7', type: EventType.UPDATED, timestamp: 2n ** 60n }),
      );
    }, 5);
    const [event] = (await first) as [{ userId: string; type: string; timestamp: string }];
    clearInterval(pump);
    received.push(event);
    assert.deepEqual(event, { userId: 'u-7', type: 'UPDATED', timestamp: (2n ** 60n).toString() });
    call.cancel();
    while (!streamsEnded.includes('u-7')) await new Promise((r) => setTimeout(r, 5));
    assert.equal(server.inFlight, 0);
  });

  it('serves grpc.health.v1 Check: SERVING, NOT_FOUND for an unknown service', async () => {
    const health = new StockHealth(address, grpc.credentials.createInsecure());
    try {
      const all = await stockUnary(health, 'check', { service: '' });
      assert.deepEqual(all.response, { status: 'SERVING' });
      const users = await stockUnary(health, 'check', { service: 'user.UserService' });
      assert.deepEqual(users.response, { status: 'SERVING' });
      await assert.rejects(
        stockUnary(health, 'check', { service: 'nope' }),
        (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND,
      );
    } finally {
      health.close();
    }
  });

  it('serves grpc.health.v1 Watch: the current status, then each change', async () => {
    const health = new StockHealth(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      watch(req: unknown): grpc.ClientReadableStream<{ status: string }>;
    };
    const watch = health.watch({ service: 'user.UserService' });
    watch.on('error', () => {});
    const statuses: string[] = [];
    const next = () => once(watch, 'data').then(([m]) => statuses.push((m as { status: string }).status));
    try {
      await next();
      server.health.set('user.UserService', 'NOT_SERVING');
      await next();
      server.health.set('user.UserService', 'SERVING');
      await next();
      assert.deepEqual(statuses, ['SERVING', 'NOT_SERVING', 'SERVING']);
    } finally {
      watch.cancel();
      health.close();
    }
  });
});
