// What the server puts on the wire, read with a raw node:http2 client, so no client library can stand in
// for either side: a server stream's deadline, a unary call sent two request messages, malformed requests.
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  GetUserRequestSchema,
  StreamUserEventsRequestSchema,
  UserService,
} from '../gen/user/user_service_pb.ts';
import { memoryUsers } from '../test-support/users.ts';
import { frame } from '../wire/framing.ts';
import { grpcServer } from './server.ts';

describe('a unary call sent two request messages', () => {
  it('is refused with INTERNAL as soon as the second arrives, before the request ends', async () => {
    let calls = 0;
    const server = grpcServer().add(UserService, {
      ...memoryUsers().impl,
      getUser: (request) => {
        calls++;
        return { id: request.id };
      },
    });
    const { address } = await server.listen();
    const session = connect(`http://${address}`);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/user.UserService/GetUser',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      stream.on('data', () => {});
      const status = new Promise<unknown>((resolve) => {
        stream.on('response', (h) => h['grpc-status'] !== undefined && resolve(h['grpc-status']));
        stream.on('trailers', (h) => resolve(h['grpc-status']));
      });
      const one = frame(toBinary(GetUserRequestSchema, create(GetUserRequestSchema, { id: '1' })));
      // Two messages, and the request left open: the answer must not wait for its end.
      stream.write(Buffer.concat([one, one]));
      assert.equal(await status, '13');
      assert.equal(calls, 0);
      stream.close();
    } finally {
      session.close();
      await server.close();
    }
  });
});

describe('a server stream under grpc-timeout', () => {
  it('sends its messages, then ends with DEADLINE_EXCEEDED in the trailers at the deadline', async () => {
    const ended: string[] = [];
    const server = grpcServer().add(UserService, {
      ...memoryUsers().impl,
      async *streamUserEvents(request, call) {
        try {
          yield { userId: request.userId, timestamp: 1n };
          await new Promise<void>((resolve) => call.ctx.onAbort(() => resolve()));
        } finally {
          ended.push(request.userId);
        }
      },
    });
    const { address } = await server.listen();
    const session = connect(`http://${address}`);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/user.UserService/StreamUserEvents',
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': '100m',
      });
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      const trailers = new Promise<Record<string, unknown>>((resolve) => stream.on('trailers', resolve));
      stream.end(
        frame(
          toBinary(StreamUserEventsRequestSchema, create(StreamUserEventsRequestSchema, { userId: 'w' })),
        ),
      );
      const t = await trailers;
      assert.equal(t['grpc-status'], '4');
      assert.ok(Buffer.concat(chunks).length > 5, 'the first message was sent before the deadline');
      while (ended.length === 0) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(ended, ['w']);
    } finally {
      session.close();
      await server.close();
    }
  });
});

describe('malformed requests on the raw wire', () => {
  /** Sends `body` with `headers` over a raw HTTP/2 stream; resolves with the HTTP status and grpc-status. */
  async function send(
    address: string,
    headers: Record<string, string>,
    body: Buffer,
  ): Promise<{ http: number; grpc: string | undefined; message: string | undefined }> {
    const session = connect(`http://${address}`);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/user.UserService/GetUser',
        'content-type': 'application/grpc',
        te: 'trailers',
        ...headers,
      });
      stream.on('data', () => {});
      const result = new Promise<{ http: number; grpc: string | undefined; message: string | undefined }>(
        (resolve) => {
          let http = 0;
          const done = (h: Record<string, unknown>): void =>
            resolve({
              http,
              grpc: h['grpc-status'] as string | undefined,
              message: h['grpc-message'] as string | undefined,
            });
          stream.on('response', (h) => {
            http = Number(h[':status']);
            if (h['grpc-status'] !== undefined || http !== 200) done(h);
          });
          stream.on('trailers', done);
        },
      );
      stream.end(body);
      return await result;
    } finally {
      session.close();
    }
  }

  it('answers each with its status and never runs the handler', async () => {
    let calls = 0;
    const server = grpcServer({ maxReceiveMessageBytes: 64 }).add(UserService, {
      ...memoryUsers().impl,
      getUser: (request) => {
        calls++;
        return { id: request.id };
      },
    });
    const { address } = await server.listen();
    const one = frame(toBinary(GetUserRequestSchema, create(GetUserRequestSchema, { id: '1' })));
    try {
      // A message cut short: the prefix promises more bytes than arrive before the request ends.
      assert.deepEqual(await send(address, {}, one.subarray(0, one.length - 1)), {
        http: 200,
        grpc: '13',
        message: 'expected one request message, got 0',
      });
      // The compressed flag without a grpc-encoding the server accepts.
      const compressed = Buffer.from(one);
      compressed[0] = 1;
      assert.equal((await send(address, {}, compressed)).grpc, '12');
      assert.equal((await send(address, { 'grpc-encoding': 'gzip' }, one)).grpc, '12');
      // A prefix announcing more than the limit is refused from the prefix alone.
      const huge = Buffer.alloc(5);
      huge.writeUInt32BE(1 << 20, 1);
      assert.equal((await send(address, {}, huge)).grpc, '8');
      // Not gRPC at all: HTTP 415, as the spec asks.
      assert.equal(
        (await send(address, { 'content-type': 'application/json' }, Buffer.from('{}'))).http,
        415,
      );
      // No message at all.
      assert.equal((await send(address, {}, Buffer.alloc(0))).grpc, '13');
      assert.equal(calls, 0);
    } finally {
      await server.close();
    }
  });
});
