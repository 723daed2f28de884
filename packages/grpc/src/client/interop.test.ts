// Our transport against a stock @grpc/grpc-js server built from the same .proto: no meshkit code serves.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { createContext, ErrorCode, isAbortError, whenComplete } from '@meshkit/core';
import { pushbackMs } from '@meshkit/policies';
import { GrpcStatusError } from '../errors.ts';
import {
  CreateUserRequestSchema,
  GetUserRequestSchema,
  StreamUserEventsRequestSchema,
  type User,
  type UserEvent,
  UserService,
  UserStatus,
} from '../gen/user/user_service_pb.ts';
import { stockDefinitions } from '../test-support/stock.ts';
import { Status } from '../wire/status.ts';
import { type GrpcTransport, grpcTransport } from './transport.ts';
import type { GrpcStreamResponse, GrpcUnaryResponse } from './types.ts';

type Unary = grpc.ServerUnaryCall<Record<string, unknown>, unknown>;
type Streaming = grpc.ServerWritableStream<Record<string, unknown>, unknown>;

describe('grpcTransport with a stock grpc-js server', () => {
  const { UserService: StockUsers } = stockDefinitions();
  const server = new grpc.Server();
  const seen: {
    metadata?: grpc.Metadata;
    deadline?: grpc.Deadline;
    cancelled: string[];
  } = { cancelled: [] };
  let transport: GrpcTransport;

  before(async () => {
    server.addService(StockUsers.service, {
      getUser(call: Unary, callback: grpc.sendUnaryData<unknown>) {
        const id = call.request.id as string;
        seen.metadata = call.metadata;
        seen.deadline = call.getDeadline();
        call.on('cancelled', () => seen.cancelled.push(id));
        if (id === 'missing') {
          const trailer = new grpc.Metadata();
          trailer.set('x-why', 'gone');
          callback({ code: grpc.status.NOT_FOUND, details: 'no user missing', metadata: trailer });
        } else if (id === 'busy') {
          const trailer = new grpc.Metadata();
          trailer.set('grpc-retry-pushback-ms', '250');
          callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'slow down', metadata: trailer });
        } else if (id === 'hang') {
          // Never answers: the client's deadline or cancellation must end the call.
        } else {
          const header = new grpc.Metadata();
          header.set('x-header', 'h');
          header.set('x-header-bin', Buffer.from([1, 2, 3]));
          call.sendMetadata(header);
          const trailer = new grpc.Metadata();
          trailer.set('x-trailer-bin', Buffer.from([4, 5]));
          callback(
            null,
            {
              id,
              email: `${id}@example.com`,
              name: 'Ada',
              createdAt: '9007199254740993',
              status: 'SUSPENDED',
            },
            trailer,
          );
        }
      },
      createUser(call: Unary, callback: grpc.sendUnaryData<unknown>) {
        callback(null, { id: 'new', email: call.request.email, name: call.request.name, createdAt: '1' });
      },
      listUsers(_call: Unary, callback: grpc.sendUnaryData<unknown>) {
        callback(null, { users: [], nextPageToken: '' });
      },
      streamUserEvents(call: Streaming) {
        const id = call.request.userId as string;
        call.on('cancelled', () => seen.cancelled.push(`stream:${id}`));
        const count = id === 'three' ? 3 : 1;
        for (let i = 0; i < count; i++) {
          call.write({ userId: id, type: 'UPDATED', timestamp: String(2n ** 62n + BigInt(i)) });
        }
        if (id === 'three') call.end();
        // Otherwise the stream stays open: deadline, break and cancel end it.
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err === null ? resolve(p) : reject(err),
      ),
    );
    transport = grpcTransport(`127.0.0.1:${port}`);
  });
  after(async () => {
    await transport.close();
    server.forceShutdown();
  });

  const getUser = (id: string) => ({
    method: UserService.method.getUser,
    message: create(GetUserRequestSchema, { id }),
  });

  it('makes a unary call; int64 past 2^53 and enums arrive exact; headers and trailers are read', async () => {
    const res = (await transport(getUser('42'), createContext())) as GrpcUnaryResponse;
    const user = res.message as User;
    assert.equal(user.createdAt, 9_007_199_254_740_993n);
    assert.equal(user.status, UserStatus.SUSPENDED);
    assert.equal(res.header['x-header'], 'h');
    assert.deepEqual(res.header['x-header-bin'], Buffer.from([1, 2, 3]));
    assert.deepEqual(res.trailer['x-trailer-bin'], Buffer.from([4, 5]));
  });

  it('sends the context metadata, call metadata (text and -bin) and the deadline as grpc-timeout', async () => {
    const ctx = createContext({ timeoutMs: 60_000, metadata: { traceparent: '00-abc-def-01' } });
    const before = Date.now();
    await transport(
      { ...getUser('43'), metadata: { 'x-tenant': ['a', 'b'], 'x-key-bin': Buffer.from([0, 255]) } },
      ctx,
    );
    assert.deepEqual(seen.metadata?.get('traceparent'), ['00-abc-def-01']);
    assert.deepEqual(seen.metadata?.get('x-key-bin'), [Buffer.from([0, 255])]);
    assert.equal(String(seen.metadata?.get('x-tenant')).replace(/\s/g, ''), 'a,b');
    const deadline = seen.deadline instanceof Date ? seen.deadline.getTime() : Number(seen.deadline);
    assert.ok(deadline > before + 50_000 && deadline <= before + 61_000);
  });

  it('fails with a typed NOT_FOUND status error carrying the trailers', async () => {
    await assert.rejects(transport(getUser('missing'), createContext()), (err: unknown) => {
      assert.ok(err instanceof GrpcStatusError);
      assert.equal(err.status, Status.NOT_FOUND);
      assert.equal(err.code, ErrorCode.GRPC_STATUS);
      assert.equal(err.grpcMessage, 'no user missing');
      assert.equal(err.retryable, false);
      assert.equal((err.metadata as Record<string, unknown>)['x-why'], 'gone');
      return true;
    });
  });

  it('reads grpc-retry-pushback-ms from the trailers of RESOURCE_EXHAUSTED for the retry policy', async () => {
    await assert.rejects(transport(getUser('busy'), createContext()), (err: unknown) => {
      assert.ok(err instanceof GrpcStatusError);
      assert.equal(err.status, Status.RESOURCE_EXHAUSTED);
      assert.equal(err.retryable, true);
      assert.equal(pushbackMs(err, Date.now()), 250);
      return true;
    });
  });

  it('fails at the deadline with ERR_DEADLINE_EXCEEDED and cancels the call on the server', async () => {
    await assert.rejects(transport(getUser('hang'), createContext({ timeoutMs: 100 })), (err: unknown) => {
      assert.ok(err instanceof GrpcStatusError);
      assert.equal(err.code, ErrorCode.DEADLINE_EXCEEDED);
      assert.equal(err.status, Status.DEADLINE_EXCEEDED);
      return true;
    });
    while (!seen.cancelled.includes('hang')) await new Promise((r) => setTimeout(r, 5));
  });

  it('rejects with AbortError when the caller cancels, and the server sees the cancel', async () => {
    const controller = new AbortController();
    const call = transport(getUser('hang'), createContext({ signal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(call, (err: unknown) => isAbortError(err));
    const before = seen.cancelled.filter((x) => x === 'hang').length;
    while (seen.cancelled.filter((x) => x === 'hang').length < Math.max(before, 2)) {
      await new Promise((r) => setTimeout(r, 5));
    }
  });

  it('reads a server stream to its end; the trailers resolve and the call completes', async () => {
    const res = (await transport(
      {
        method: UserService.method.streamUserEvents,
        message: create(StreamUserEventsRequestSchema, { userId: 'three' }),
      },
      createContext(),
    )) as GrpcStreamResponse;
    const completions: unknown[] = [];
    whenComplete(res, (error) => completions.push(error ?? 'ok'));
    const timestamps: bigint[] = [];
    for await (const event of res.messages) timestamps.push((event as UserEvent).timestamp);
    assert.deepEqual(timestamps, [2n ** 62n, 2n ** 62n + 1n, 2n ** 62n + 2n]);
    assert.deepEqual(await res.trailer, {});
    assert.deepEqual(completions, ['ok']);
  });

  it('aborts a server stream at its deadline with ERR_DEADLINE_EXCEEDED after the first message', async () => {
    const res = (await transport(
      {
        method: UserService.method.streamUserEvents,
        message: create(StreamUserEventsRequestSchema, { userId: 'open-deadline' }),
      },
      createContext({ timeoutMs: 150 }),
    )) as GrpcStreamResponse;
    const completions: unknown[] = [];
    whenComplete(res, (error) => completions.push(error));
    const received: unknown[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of res.messages) received.push(event);
      })(),
      (err: unknown) => err instanceof GrpcStatusError && err.code === ErrorCode.DEADLINE_EXCEEDED,
    );
    assert.equal(received.length, 1);
    assert.equal(completions.length, 1);
    while (!seen.cancelled.includes('stream:open-deadline')) await new Promise((r) => setTimeout(r, 5));
  });

  it('cancels the stream on the server when the caller breaks out of the loop', async () => {
    const res = (await transport(
      {
        method: UserService.method.streamUserEvents,
        message: create(StreamUserEventsRequestSchema, { userId: 'open-break' }),
      },
      createContext(),
    )) as GrpcStreamResponse;
    const completions: unknown[] = [];
    whenComplete(res, (error) => completions.push(error));
    for await (const _ of res.messages) break;
    assert.equal(completions.length, 1);
    while (!seen.cancelled.includes('stream:open-break')) await new Promise((r) => setTimeout(r, 5));
  });

  it('fails with ERR_CONNECT (rejected, retryable) when nothing listens', async () => {
    const probe = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) =>
      probe.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err === null ? resolve(p) : reject(err),
      ),
    );
    probe.forceShutdown();
    const dead = grpcTransport(`127.0.0.1:${port}`);
    try {
      await assert.rejects(
        dead(
          {
            method: UserService.method.createUser,
            message: create(CreateUserRequestSchema, { email: 'a@b' }),
          },
          createContext(),
        ),
        (err: unknown) => {
          const e = err as { code: string; rejected: boolean; retryable: boolean };
          return e.code === ErrorCode.CONNECT && e.rejected && e.retryable;
        },
      );
    } finally {
      await dead.close();
    }
  });
});
