// The transport against peers that misbehave: a raw node:http2 server plays each part.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { createContext, ErrorCode } from '@meshkit/core';
import { GrpcStatusError } from '../errors.ts';
import { GetUserRequestSchema, UserService } from '../gen/user/user_service_pb.ts';
import { grpcServer } from '../server/server.ts';
import { memoryUsers } from '../test-support/users.ts';
import { frame } from '../wire/framing.ts';
import { Status } from '../wire/status.ts';
import { grpcTransport } from './transport.ts';

const getUser = (id: string) => ({
  method: UserService.method.getUser,
  message: create(GetUserRequestSchema, { id }),
});

describe('grpcTransport against a misbehaving peer', () => {
  let server: Http2Server;
  let address: string;
  const sockets = new Set<Socket>();
  const behaviours: Record<string, (stream: ServerHttp2Stream) => void> = {
    html: (s) => {
      s.respond({ ':status': 200, 'content-type': 'text/html' });
      s.end('<html>');
    },
    http503: (s) => s.respond({ ':status': 503 }, { endStream: true }),
    garbage: (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(frame(Buffer.from([0xff, 0xff, 0xff, 0xff])));
    },
    huge: (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' });
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(64 * 1024 * 1024, 1);
      s.write(prefix);
    },
    'no-status': (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' });
      s.end(frame(new Uint8Array()));
    },
    'no-message': (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end();
    },
    refused: (s) => s.close(7 /* REFUSED_STREAM */),
    reset: (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' });
      s.write(frame(new Uint8Array()));
      // The connection drops mid-call: the raw socket is destroyed (the session's socket is a proxy that
      // refuses `destroy()` on Node 22).
      setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, 5);
    },
    'odd-status': (s) =>
      s.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '99' },
        { endStream: true },
      ),
  };

  before(async () => {
    server = createServer();
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    server.on('stream', (stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const id = Buffer.concat(chunks).subarray(7).toString();
        behaviours[id]?.(stream);
      });
      stream.on('error', () => {});
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  const expectStatus = async (id: string, status: Status, rejected = false) => {
    const transport = grpcTransport(address, { maxReceiveMessageBytes: 1024 });
    try {
      await assert.rejects(transport(getUser(id), createContext()), (err: unknown) => {
        assert.ok(err instanceof GrpcStatusError, String(err));
        assert.equal(err.status, status, `${id}: ${err.message}`);
        assert.equal(err.rejected, rejected);
        return true;
      });
    } finally {
      await transport.close();
    }
  };

  it('a non-gRPC content type is UNKNOWN', () => expectStatus('html', Status.UNKNOWN));
  it('an HTTP 503 is UNAVAILABLE', () => expectStatus('http503', Status.UNAVAILABLE));
  it('bytes that are not the message are INTERNAL', () => expectStatus('garbage', Status.INTERNAL));
  it('a message over the limit is RESOURCE_EXHAUSTED, refused from its prefix', () =>
    expectStatus('huge', Status.RESOURCE_EXHAUSTED));
  it('a stream that ends without a status is INTERNAL', () => expectStatus('no-status', Status.INTERNAL));
  it('a connection lost mid-call is UNAVAILABLE, not rejected', () =>
    expectStatus('reset', Status.UNAVAILABLE));
  it('OK without a message is INTERNAL', () => expectStatus('no-message', Status.INTERNAL));
  it('a refused stream is UNAVAILABLE and rejected (safe to retry anywhere)', () =>
    expectStatus('refused', Status.UNAVAILABLE, true));
  it('a status outside 0..16 is UNKNOWN', () => expectStatus('odd-status', Status.UNKNOWN));
});

describe('grpcTransport across a server restart', () => {
  it('fails with ERR_CONNECT while the server is down and reconnects once it is back', async () => {
    const first = grpcServer().add(UserService, memoryUsers().impl);
    const { port } = await first.listen();
    const transport = grpcTransport(`127.0.0.1:${port}`);
    try {
      await assert.rejects(transport(getUser('1'), createContext()), (err: unknown) => {
        return err instanceof GrpcStatusError && err.status === Status.NOT_FOUND;
      });
      await first.close();
      await assert.rejects(
        transport(getUser('1'), createContext()),
        (err: unknown) => (err as { code?: string }).code === ErrorCode.CONNECT,
      );
      const second = grpcServer().add(UserService, {
        ...memoryUsers().impl,
        getUser: (request) => ({ id: request.id }),
      });
      await second.listen({ port });
      try {
        const res = await transport(getUser('1'), createContext());
        assert.equal(res.kind, 'unary');
      } finally {
        await second.close();
      }
    } finally {
      await transport.close();
    }
  });
});
