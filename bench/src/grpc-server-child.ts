/**
 * The `grpc` benchmark's server, in its own process so its work does not share the clients' event loop.
 * `argv[2]` picks the implementation: `meshkit` (grpcServer over node:http2), `grpc-js` (a stock
 * @grpc/grpc-js server from the same .proto) or `connect` (@connectrpc/connect-node's gRPC handler on a
 * node:http2 server). Each answers GetUser with the same small user. Prints its port, runs a full garbage
 * collection for each `gc` line on stdin (with `--expose-gc`), exits when stdin closes (the parent went
 * away).
 */
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { create } from '@bufbuild/protobuf';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { grpcServer, UserSchema, UserService, UserStatus } from '@meshkit/grpc';

const kind = process.argv[2] ?? 'meshkit';
const user = create(UserSchema, {
  id: '42',
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  createdAt: 1_733_400_000_000n,
  status: UserStatus.ACTIVE,
});
const stockUser = { ...user, createdAt: user.createdAt.toString(), status: 'ACTIVE' };
const unimplemented = (): never => {
  throw new Error('not benchmarked');
};

async function start(): Promise<number> {
  if (kind === 'meshkit') {
    const server = grpcServer().add(UserService, {
      getUser: () => user,
      createUser: unimplemented,
      listUsers: unimplemented,
      streamUserEvents: unimplemented,
    });
    return (await server.listen()).port;
  }
  if (kind === 'grpc-js') {
    const definition = protoLoader.loadSync('user/user_service.proto', {
      includeDirs: [join(import.meta.dirname, '..', '..', 'packages', 'grpc', 'proto')],
      longs: String,
      enums: String,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      user: { UserService: grpc.ServiceClientConstructor };
    };
    const server = new grpc.Server();
    server.addService(loaded.user.UserService.service, {
      getUser: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, stockUser),
    });
    return new Promise((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
        err === null ? resolve(port) : reject(err),
      ),
    );
  }
  if (kind === 'connect') {
    const handler = connectNodeAdapter({
      grpc: true,
      grpcWeb: false,
      connect: false,
      routes: (router) => router.service(UserService, { getUser: () => user }),
    });
    const server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }
  throw new Error(`unknown server kind ${kind}`);
}

const port = await start();
process.stdout.write(`${port}\n`);
// `gc` on stdin: a full collection (the parent asks before every slice), answered with a line when done.
const collect = (globalThis as { gc?: () => void }).gc;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'gc') return;
  collect?.();
  process.stdout.write('gc\n');
});
process.stdin.on('end', () => process.exit(0));
