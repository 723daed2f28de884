// What the server puts on the wire when a server stream's deadline passes: read with a raw node:http2
// client, so neither side's client library can stand in for the server.
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { StreamUserEventsRequestSchema, UserService } from '../gen/user/user_service_pb.ts';
import { memoryUsers } from '../test-support/users.ts';
import { frame } from '../wire/framing.ts';
import { grpcServer } from './server.ts';

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
