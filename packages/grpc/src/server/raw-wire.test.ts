// What the server puts on the wire, read with a raw node:http2 client, so no client library can stand in
// for either side: a server stream's deadline, and a unary call sent two request messages.
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
