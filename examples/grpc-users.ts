/**
 * The seed's UserService over gRPC, end to end on one machine:
 *
 *   node --conditions=@meshkit/source examples/grpc-users.ts
 *
 * Two `users` instances (versions v1 and v2) serve an in-memory UserService and register in the embedded
 * registry. A client follows the registry, subscribes to user events (a server stream), creates a user,
 * reads it back (its int64 `createdAt` survives as a bigint), branches on NOT_FOUND and on a bad-input
 * field, then routes a call to v2 only. One instance shuts down gracefully mid-way: it deregisters,
 * finishes what it was doing, and the client carries on with the other. Exits non-zero on any surprise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { subset } from '@meshkit/balance';
import { InvalidArgumentError } from '@meshkit/core';
import { embeddedRegistry } from '@meshkit/discovery';
import {
  EventType,
  fieldViolations,
  GrpcStatusError,
  grpcClient,
  grpcServer,
  type ServiceImpl,
  Status,
  type User,
  type UserEvent,
  UserEventSchema,
  UserSchema,
  UserService,
  UserStatus,
} from '@meshkit/grpc';

const eventNames = Object.fromEntries(Object.entries(EventType).map(([name, n]) => [n, name]));
const dir = mkdtempSync(join(tmpdir(), 'meshkit-grpc-example-'));
const registry = embeddedRegistry({ path: join(dir, 'registry.db'), ttlMs: 5_000 });

// One store and one event feed behind both instances, as a shared database would be.
const store = new Map<string, User>();
const subscribers = new Set<(event: UserEvent) => void>();

function users(version: string): ServiceImpl<typeof UserService> {
  return {
    getUser({ id }) {
      const user = store.get(id);
      if (user === undefined) throw new GrpcStatusError(Status.NOT_FOUND, `no user ${id}`);
      return { ...user, name: `${user.name} (served by ${version})` };
    },
    createUser({ email, name }) {
      if (!email.includes('@')) throw new InvalidArgumentError('email', 'must be an e-mail address', email);
      const user = create(UserSchema, {
        id: String(store.size + 1),
        email,
        name,
        createdAt: 2n ** 60n, // past 2^53: a JavaScript number would round it
        status: UserStatus.ACTIVE,
      });
      store.set(user.id, user);
      const event = create(UserEventSchema, {
        userId: user.id,
        type: EventType.CREATED,
        timestamp: user.createdAt,
      });
      for (const notify of subscribers) notify(event);
      return user;
    },
    listUsers: () => ({ users: [...store.values()] }),
    async *streamUserEvents(_request, call) {
      const queue: UserEvent[] = [];
      let wake = (): void => {};
      const notify = (event: UserEvent): void => {
        queue.push(event);
        wake();
      };
      subscribers.add(notify);
      const stop = call.ctx.onAbort(() => wake());
      try {
        while (!call.ctx.aborted) {
          const next = queue.shift();
          if (next !== undefined) yield next;
          else await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        stop();
        subscribers.delete(notify);
      }
    },
  };
}

const servers = ['v1', 'v2'].map((version) =>
  grpcServer({
    registration: { registry, service: 'users', version, deregisterGraceMs: 200 },
    shutdownGraceMs: 1_000,
  }).add(UserService, users(version)),
);
for (const server of servers) await server.listen();

const client = grpcClient(UserService, {
  service: 'users',
  registry,
  idempotentMethods: ['getUser', 'listUsers', 'streamUserEvents'],
});
const problems: string[] = [];
const check = (ok: boolean, what: string): void => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) problems.push(what);
};

try {
  const events = new AbortController();
  const seen: UserEvent[] = [];
  // A subscription outlives any one server: when its server shuts down the stream ends with UNAVAILABLE
  // and the follower subscribes again (the balancer picks a live instance).
  let resubscribed = 0;
  const following = (async () => {
    while (!events.signal.aborted) {
      try {
        for await (const event of client.streamUserEvents({ userId: '' }, { signal: events.signal })) {
          seen.push(event);
        }
      } catch (error) {
        if (events.signal.aborted) return;
        if (!(error instanceof GrpcStatusError && error.status === Status.UNAVAILABLE)) throw error;
        resubscribed++;
      }
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 100)); // let the subscription open

  const ada = await client.createUser({ email: 'ada@example.com', name: 'Ada' });
  const again = await client.getUser({ id: ada.id }, { timeoutMs: 500 });
  check(again.createdAt === 2n ** 60n, `int64 createdAt arrives exact: ${again.createdAt}`);

  try {
    await client.getUser({ id: 'nobody' });
    check(false, 'NOT_FOUND for a missing user');
  } catch (error) {
    check(
      error instanceof GrpcStatusError && error.status === Status.NOT_FOUND,
      'NOT_FOUND for a missing user',
    );
  }
  try {
    await client.createUser({ email: 'not-an-address', name: 'X' });
    check(false, 'INVALID_ARGUMENT names the field');
  } catch (error) {
    check(fieldViolations(error)[0]?.field === 'email', 'INVALID_ARGUMENT names the field: email');
  }

  const canary = grpcClient(UserService, {
    service: 'users',
    registry,
    picker: subset({ select: { version: 'v2' } }),
  });
  const fromV2 = await canary.getUser({ id: ada.id });
  check(fromV2.name.endsWith('(served by v2)'), `label subset routes to v2: ${fromV2.name}`);
  await canary.$close();

  // v1 leaves gracefully while calls keep coming.
  const closing = servers[0]!.close();
  let answered = 0;
  for (let i = 0; i < 20; i++) {
    await client.getUser({ id: ada.id });
    answered++;
  }
  await closing;
  check(answered === 20, 'every call answered while v1 shut down');

  await new Promise((resolve) => setTimeout(resolve, 100)); // the follower is back on v2
  await client.createUser({ email: 'grace@example.com', name: 'Grace' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  events.abort();
  await following;
  check(
    seen.filter((e) => e.type === EventType.CREATED).length === 2,
    `user events streamed: ${seen.map((e) => `user ${e.userId} ${eventNames[e.type]}`).join(', ')}` +
      ` (resubscribed ${resubscribed}x)`,
  );
} finally {
  await client.$close();
  for (const server of servers) await server.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
}
if (problems.length > 0) process.exitCode = 1;
