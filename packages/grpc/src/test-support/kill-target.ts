/**
 * A gRPC server in its own process, for tests that kill one (SIGKILL: no GOAWAY, no graceful anything).
 * Serves the seed's UserService with user '1'; `createUser` never answers and prints `create` on stdout
 * when a call arrives, so a test knows calls are in flight here. Prints its address first.
 */

import { UserService } from '../gen/user/user_service_pb.ts';
import { grpcServer } from '../server/server.ts';
import { memoryUsers } from './users.ts';

const users = memoryUsers();
await users.impl.createUser({ email: 'one@example.com', name: 'one' } as never, {} as never);
const server = grpcServer().add(UserService, {
  ...users.impl,
  createUser: () => {
    process.stdout.write('create\n');
    return new Promise<never>(() => {});
  },
});
const { address } = await server.listen();
process.stdout.write(`${address}\n`);
