import {
  badRequest,
  EventType,
  GrpcStatusError,
  type ServiceImpl,
  Status,
  type UserService,
  UserStatus,
} from '@meshkit/grpc';
import { isUserError, type UserErrorKind } from './errors.ts';
import type { EventHub } from './event-hub.ts';
import { traceHeadersOf, type UserEventData } from './events.ts';
import type { User } from './user.ts';
import type { Users } from './users.ts';

const statuses: Readonly<Record<Exclude<UserErrorKind, 'invalid-argument'>, Status>> = {
  'not-found': Status.NOT_FOUND,
  'already-exists': Status.ALREADY_EXISTS,
  'resource-exhausted': Status.RESOURCE_EXHAUSTED,
  unavailable: Status.UNAVAILABLE,
};

const eventTypes = {
  USER_CREATED: EventType.CREATED,
  USER_UPDATED: EventType.UPDATED,
  USER_DELETED: EventType.DELETED,
} as const;

/** The gRPC form of a domain error (see `errors.ts` for the table); anything else passes unchanged. */
export function grpcError(error: unknown): unknown {
  if (!isUserError(error)) return error;
  if (error.kind === 'invalid-argument') {
    return badRequest([{ field: error.field ?? '', description: error.message }], error.message);
  }
  return new GrpcStatusError(statuses[error.kind], error.message);
}

/** A domain user as the proto's `User` message: `created_at` in epoch milliseconds. */
export function userMessage(user: User) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    createdAt: BigInt(user.createdAt),
    status: UserStatus[user.status],
  };
}

/** An event's data as the proto's `UserEvent`: `timestamp` in epoch milliseconds. */
export function eventMessage(event: UserEventData) {
  return { userId: event.user_id, type: eventTypes[event.type], timestamp: BigInt(event.timestamp) };
}

async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw grpcError(error);
  }
}

/**
 * `user.UserService` over the domain: `GetUser`, `CreateUser`, `ListUsers` (page size and token as in
 * REST), and `StreamUserEvents`, the live events of every instance, filtered by `user_id` when given.
 */
export function userServiceImpl(domain: Users, hub: EventHub): ServiceImpl<typeof UserService> {
  return {
    getUser: ({ id }) => mapped(async () => userMessage(await domain.get(id))),
    createUser: ({ email, name }, call) =>
      mapped(async () => userMessage(await domain.create({ email, name }, traceHeadersOf(call.ctx)))),
    listUsers: ({ pageSize, pageToken }) =>
      mapped(async () => {
        const page = await domain.list({ pageSize, pageToken });
        return { users: page.users.map(userMessage), nextPageToken: page.nextPageToken };
      }),
    async *streamUserEvents({ userId }, call) {
      try {
        for await (const event of hub.follow(userId === '' ? undefined : userId, call.ctx)) {
          yield eventMessage(event);
        }
      } catch (error) {
        throw grpcError(error);
      }
    },
  };
}
