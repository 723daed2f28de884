import { type Clock, InvalidArgumentError, systemClock } from '@meshkit/core';
import { checkInteger } from '@meshkit/core/internal';
import { invalid, UserError } from './errors.ts';
import { type EventRouting, type TraceHeaders, userEvent } from './events.ts';
import type { PageTokens } from './page-token.ts';
import type { UserStore } from './store.ts';
import { newUserId, type User, type UserStatusName } from './user.ts';
import { checkEmail, checkId, checkName, checkStatus } from './validation.ts';

/** Input of {@link Users.create}: unchecked, straight from a transport. */
export interface CreateUserInput {
  readonly email: unknown;
  readonly name: unknown;
  /** Defaults to `ACTIVE`. */
  readonly status?: unknown;
}

/** Input of {@link Users.update}: the fields to change; absent fields stay as they are. */
export interface UpdateUserInput {
  readonly email?: unknown;
  readonly name?: unknown;
  readonly status?: unknown;
}

/** Input of {@link Users.list}. */
export interface ListUsersInput {
  /** Users per page; `undefined` or 0 means the default, above the maximum means the maximum. */
  readonly pageSize?: number | undefined;
  /** The `nextPageToken` of the previous page; empty or `undefined` for the first page. */
  readonly pageToken?: string | undefined;
}

/** One page of users. */
export interface UserPage {
  readonly users: readonly User[];
  /** The token of the next page; `''` on the last page. */
  readonly nextPageToken: string;
}

/** Page sizes of {@link Users.list}. */
export interface PageSizeOptions {
  /** When the caller gives none. Defaults to 50. */
  readonly default?: number;
  /** The largest page; larger requests are served this many. Defaults to 200. */
  readonly max?: number;
}

/** Options of {@link users}. */
export interface UsersOptions {
  readonly store: UserStore;
  readonly pageTokens: PageTokens;
  /** Topics of the events. Defaults to one per change (`user.created`, ...). */
  readonly events?: EventRouting;
  readonly pageSize?: PageSizeOptions;
  /** Times users and events. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** The user domain, free of any transport. Every failure it reports is a `UserError`. */
export interface Users {
  /** `trace`: the request's trace context, published with the event (see `traceHeadersOf`). */
  create(input: CreateUserInput, trace?: TraceHeaders): Promise<User>;
  get(id: unknown): Promise<User>;
  list(input: ListUsersInput): Promise<UserPage>;
  update(id: unknown, input: UpdateUserInput, trace?: TraceHeaders): Promise<User>;
  remove(id: unknown, trace?: TraceHeaders): Promise<User>;
}

/**
 * The user domain: validation, storage and one event per change, written in the same transaction as
 * the change (`user.created`, `user.updated`, `user.deleted`; key = user id).
 *
 * @example
 * ```ts
 * import { pageTokens } from './page-token.ts';
 * import { openSqliteUserStore } from './store-sqlite.ts';
 * const domain = users({ store: openSqliteUserStore({ path: ':memory:' }), pageTokens: pageTokens('k'.repeat(32)) });
 * const ada = await domain.create({ email: 'ada@example.com', name: 'Ada' });
 * await domain.update(ada.id, { status: 'SUSPENDED' });
 * ```
 */
export function users(options: UsersOptions): Users {
  const { store, pageTokens } = options;
  const clock = options.clock ?? systemClock;
  const routing = options.events ?? {};
  const maxPageSize = checkInteger('users.pageSize.max', options.pageSize?.max ?? 200, 1);
  const defaultPageSize = checkInteger('users.pageSize.default', options.pageSize?.default ?? 50, 1);
  if (defaultPageSize > maxPageSize) {
    throw new InvalidArgumentError('users.pageSize.default', 'must not exceed pageSize.max', defaultPageSize);
  }

  const notFound = (id: string): UserError => new UserError('not-found', `no user ${id}`, 'id');

  return {
    async create(input, trace) {
      const email = checkEmail(input.email);
      const name = checkName(input.name);
      const status: UserStatusName = input.status === undefined ? 'ACTIVE' : checkStatus(input.status);
      const now = clock.now();
      const user: User = { id: newUserId(now), email, name, status, createdAt: now, updatedAt: now };
      await store.insert({ user, event: userEvent('created', user, now, routing, trace) });
      return user;
    },

    async get(raw) {
      const id = checkId(raw);
      const user = await store.get(id);
      if (user === undefined) throw notFound(id);
      return user;
    },

    async list(input) {
      const requested = input.pageSize ?? 0;
      if (!Number.isInteger(requested) || requested < 0) {
        throw invalid('page_size', 'must be a whole number, 0 or more');
      }
      const size = requested === 0 ? defaultPageSize : Math.min(requested, maxPageSize);
      const token = input.pageToken ?? '';
      const afterId = token === '' ? undefined : pageTokens.open(token).afterId;
      const rows = await store.list(afterId, size + 1);
      const page = rows.slice(0, size);
      const last = page.at(-1);
      const more = rows.length > size && last !== undefined;
      return { users: page, nextPageToken: more ? pageTokens.sign({ afterId: last.id }) : '' };
    },

    async update(raw, input, trace) {
      const id = checkId(raw);
      const email = input.email === undefined ? undefined : checkEmail(input.email);
      const name = input.name === undefined ? undefined : checkName(input.name);
      const status = input.status === undefined ? undefined : checkStatus(input.status);
      const updated = await store.update(id, (current) => {
        const next = {
          ...current,
          email: email ?? current.email,
          name: name ?? current.name,
          status: status ?? current.status,
        };
        if (next.email === current.email && next.name === current.name && next.status === current.status) {
          return undefined;
        }
        const now = clock.now();
        const user: User = { ...next, updatedAt: now };
        return { user, event: userEvent('updated', user, now, routing, trace) };
      });
      if (updated === undefined) throw notFound(id);
      return updated;
    },

    async remove(raw, trace) {
      const id = checkId(raw);
      const removed = await store.remove(id, (user) =>
        userEvent('deleted', user, clock.now(), routing, trace),
      );
      if (removed === undefined) throw notFound(id);
      return removed;
    },
  };
}
