import type { OutboxEvent, OutboxStore } from '@meshkit/messaging';
import { UserError } from './errors.ts';
import type { User, UserStatusName } from './user.ts';

/** A change to a stored user and the event that describes it, written in one transaction. */
export interface UserWrite {
  readonly user: User;
  readonly event: OutboxEvent;
}

/**
 * Where users live. Every write commits the user row and its outbox event in one transaction, so an
 * event exists if and only if the change does. An e-mail address already taken (also by a concurrent
 * write) rejects with a `UserError` of kind `already-exists`.
 */
export interface UserStore {
  /** `sqlite` or `postgres`. */
  readonly kind: string;
  /** Inserts a new user and its event. */
  insert(write: UserWrite): Promise<void>;
  /** The user with `id`, if any. */
  get(id: string): Promise<User | undefined>;
  /** Up to `limit` users with ids greater than `afterId` (all when undefined), in id order. */
  list(afterId: string | undefined, limit: number): Promise<User[]>;
  /**
   * Locks the user with `id`, asks `change` what to write, and writes it with its event. Resolves with
   * the user as stored afterwards, or `undefined` when there is no such user. `change` returns
   * `undefined` to leave the user as it is (nothing is written, no event).
   */
  update(id: string, change: (current: User) => UserWrite | undefined): Promise<User | undefined>;
  /** Deletes the user with `id` and writes `event(user)`; resolves with the deleted user, if any. */
  remove(id: string, event: (user: User) => OutboxEvent): Promise<User | undefined>;
  /** The outbox as the relay reads it (its own connection where the engine needs one). */
  readonly outbox: OutboxStore;
  /** Calls `listener` after each committed write; returns an unsubscribe. */
  onCommit(listener: () => void): () => void;
  /** Resolves when the database answers; for readiness checks. */
  ping(): Promise<void>;
  /** Closes the connections. */
  close(): Promise<void>;
}

/** The `users` table's columns, in the order the stores read and insert them. */
export const userColumns = 'id, email, name, status, created_at, updated_at';

/** A `users` row as a driver returns it (PostgreSQL's `bigint` times come back as strings). */
export interface UserRow {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly status: string;
  readonly created_at: number | string;
  readonly updated_at: number | string;
}

/** The user a `users` row holds. */
export function userOfRow(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    status: row.status as UserStatusName,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** The error for an e-mail address another user has, once a store recognised its unique violation. */
export function emailTakenError(email: string): UserError {
  return new UserError('already-exists', `a user with email ${email} already exists`, 'email');
}
