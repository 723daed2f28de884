import { create } from '@bufbuild/protobuf';
import { InvalidArgumentError } from '@meshkit/core';
import { GrpcStatusError } from '../errors.ts';
import {
  EventType,
  type User,
  type UserEvent,
  UserEventSchema,
  type UserService,
  UserStatus,
} from '../gen/user/user_service_pb.ts';
import type { ServiceImpl } from '../server/types.ts';
import { Status } from '../wire/status.ts';

/**
 * An in-memory UserService for tests and benchmarks: users in a map, `CreateUser` publishes a `CREATED`
 * event, `StreamUserEvents` follows the events of one user (or all with an empty id) until cancelled.
 */
export function memoryUsers(): { impl: ServiceImpl<typeof UserService>; publish(event: UserEvent): void } {
  const users = new Map<string, User>();
  const listeners = new Set<(event: UserEvent) => void>();
  let next = 1;
  const publish = (event: UserEvent): void => {
    for (const listener of listeners) listener(event);
  };
  const impl: ServiceImpl<typeof UserService> = {
    getUser(request) {
      const user = users.get(request.id);
      if (user === undefined) throw new GrpcStatusError(Status.NOT_FOUND, `no user ${request.id}`);
      return user;
    },
    createUser(request) {
      if (!request.email.includes('@'))
        throw new InvalidArgumentError('email', 'must contain @', request.email);
      const id = String(next++);
      const user: User = {
        $typeName: 'user.User',
        id,
        email: request.email,
        name: request.name,
        // Past 2^53 on purpose: the wire carries int64, and nothing on the way may round it.
        createdAt: 9_007_199_254_740_993n + BigInt(id),
        status: UserStatus.ACTIVE,
      };
      users.set(id, user);
      publish(create(UserEventSchema, { userId: id, type: EventType.CREATED, timestamp: user.createdAt }));
      return user;
    },
    listUsers(request) {
      const all = [...users.values()];
      const start = request.pageToken === '' ? 0 : Number(request.pageToken);
      const size = request.pageSize > 0 ? request.pageSize : 50;
      const page = all.slice(start, start + size);
      return { users: page, nextPageToken: start + size < all.length ? String(start + size) : '' };
    },
    async *streamUserEvents(request, call) {
      const queue: UserEvent[] = [];
      let wake: (() => void) | undefined;
      const listener = (event: UserEvent): void => {
        if (request.userId !== '' && event.userId !== request.userId) return;
        queue.push(event);
        wake?.();
      };
      listeners.add(listener);
      const stop = call.ctx.onAbort(() => wake?.());
      try {
        while (!call.ctx.aborted) {
          const event = queue.shift();
          if (event !== undefined) {
            yield event;
            continue;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
      } finally {
        stop();
        listeners.delete(listener);
      }
    },
  };
  return { impl, publish };
}
