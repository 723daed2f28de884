import { InvalidArgumentError } from '@meshkit/core';
import type { Inbox } from '@meshkit/messaging';
import type { UserEventType } from './user-event.ts';

/** A notification the notifier would have sent: one per event id. */
export interface Notification {
  /** The event's CloudEvents id. */
  readonly eventId: string;
  readonly userId: string;
  readonly type: UserEventType;
  readonly email: string;
  /** The rendered message. */
  readonly message: string;
  /** When the event happened (RFC 3339). */
  readonly occurredAt: string;
  /** When the notifier recorded it (RFC 3339). */
  readonly recordedAt: string;
}

/** A listing: the newest first. */
export interface NotificationQuery {
  /** Only this user's notifications; all users when absent. */
  readonly userId?: string | undefined;
  /** Only notifications of this event type; every type when absent. */
  readonly type?: UserEventType | undefined;
  /** At most this many. */
  readonly limit: number;
}

/** The filters of a listing, for counting what it matches. */
export type NotificationFilter = Omit<NotificationQuery, 'limit'>;

/** The `WHERE` clause of `filter` (empty when nothing filters) and its values in order; `$n` for PostgreSQL. */
export function whereOf(
  filter: NotificationFilter,
  placeholder: (n: number) => string,
): { readonly sql: string; readonly values: string[] } {
  const clauses: string[] = [];
  const values: string[] = [];
  if (filter.userId !== undefined) {
    values.push(filter.userId);
    clauses.push(`user_id = ${placeholder(values.length)}`);
  }
  if (filter.type !== undefined) {
    values.push(filter.type);
    clauses.push(`type = ${placeholder(values.length)}`);
  }
  return { sql: clauses.length === 0 ? '' : ` WHERE ${clauses.join(' AND ')}`, values };
}

/**
 * Where notifications are recorded, with the inbox that makes recording idempotent: `record` runs
 * inside the inbox transaction `Tx`, so a notification and its event id commit together.
 */
export interface NotificationStore<Tx = unknown> {
  /** `sqlite` or `postgres`, for logs and `describe()`. */
  readonly kind: string;
  readonly inbox: Inbox<Tx>;
  /** Inserts one notification inside the inbox transaction. A second row for an event id is an error. */
  record(tx: Tx, notification: Notification): unknown;
  list(query: NotificationQuery): Promise<Notification[]>;
  /** How many notifications match `filter`, whatever a listing's limit. */
  count(filter: NotificationFilter): Promise<number>;
  /** Resolves when the store can be used (readiness), rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The columns of a notification row, in the order both stores select them. */
export const notificationColumns = 'event_id, user_id, type, email, message, occurred_at, recorded_at';

/** A row as either store returns it. */
export interface NotificationRow {
  readonly event_id: string;
  readonly user_id: string;
  readonly type: string;
  readonly email: string;
  readonly message: string;
  readonly occurred_at: string;
  readonly recorded_at: number | string;
}

/** The {@link Notification} of a row. */
export function fromRow(row: NotificationRow): Notification {
  return {
    eventId: row.event_id,
    userId: row.user_id,
    type: row.type as UserEventType,
    email: row.email,
    message: row.message,
    occurredAt: row.occurred_at,
    recordedAt: new Date(Number(row.recorded_at)).toISOString(),
  };
}

/** A table name both stores accept: letters, digits and underscores. */
export function checkTable(field: string, table: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(table)) {
    throw new InvalidArgumentError(field, 'must be an SQL identifier (letters, digits, _)', table);
  }
  return table;
}
