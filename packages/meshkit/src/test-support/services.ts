import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrpcStatusError, type ServiceImpl, Status, type UserService, UserStatus } from '@meshkit/grpc';
import type { KitHandler } from '@meshkit/http';

/** A temporary data directory, removed by the returned function. */
export function tempDir(prefix = 'meshkit-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An HTTP handler that answers who it is: `{ version, path }` for any path. */
export function whoAmI(version: string): KitHandler {
  return (req) => ({ body: { version, method: req.method, path: req.path } });
}

/** Minimal handlers for the seed's UserService: users `42` (its name says which instance answered). */
export function userService(instance: string): ServiceImpl<typeof UserService> {
  return {
    async getUser({ id }) {
      if (id !== '42') throw new GrpcStatusError(Status.NOT_FOUND, `no user ${id}`);
      return { id, email: 'ada@example.com', name: `Ada from ${instance}`, status: UserStatus.ACTIVE };
    },
    async createUser({ email, name }) {
      return { id: '43', email, name, status: UserStatus.ACTIVE };
    },
    async listUsers() {
      return { users: [], nextPageToken: '' };
    },
    async *streamUserEvents() {},
  };
}

/** A promise and the function that resolves it. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
