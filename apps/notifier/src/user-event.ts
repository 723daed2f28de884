/**
 * The user events the notifier reads (topics `user.created|updated|deleted`, key = user id), checked
 * on receive: data that does not match is dead-lettered at once, with the reason, never retried.
 */
import type { StandardSchemaResult, StandardSchemaV1 } from '@meshkit/messaging';

/** The event types user-service emits. */
export const userEventTypes = ['USER_CREATED', 'USER_UPDATED', 'USER_DELETED'] as const;

/** One of {@link userEventTypes}. */
export type UserEventType = (typeof userEventTypes)[number];

/** A user event's data, as user-service publishes it. */
export interface UserEvent {
  /** The event's own id (the CloudEvents id is the inbox key). */
  readonly id: string | undefined;
  readonly user_id: string;
  readonly type: UserEventType;
  readonly email: string;
  readonly name: string | undefined;
  readonly status: string | undefined;
  /** When it happened: epoch ms or an RFC 3339 time, as the publisher wrote it. */
  readonly timestamp: number | string | undefined;
}

type Issue = { readonly message: string; readonly path: readonly string[] };

function check(value: unknown): StandardSchemaResult<UserEvent> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { issues: [{ message: 'must be a JSON object', path: [] }] };
  }
  const data = value as Record<string, unknown>;
  const issues: Issue[] = [];
  const text = (field: string, required: boolean): string | undefined => {
    const v = data[field];
    if (v === undefined || v === null) {
      if (required) issues.push({ message: 'is required', path: [field] });
      return undefined;
    }
    if (typeof v !== 'string' || (required && v.trim() === '')) {
      issues.push({ message: 'must be a non-empty string', path: [field] });
      return undefined;
    }
    return v;
  };
  const userId = text('user_id', true);
  const email = text('email', true);
  if (email !== undefined && !/^[^@\s]+@[^@\s]+$/.test(email)) {
    issues.push({ message: 'must be an email address', path: ['email'] });
  }
  const type = data.type;
  if (!userEventTypes.includes(type as UserEventType)) {
    issues.push({
      message: `unknown type ${JSON.stringify(type)} (expected ${userEventTypes.join(', ')})`,
      path: ['type'],
    });
  }
  const id = text('id', false);
  const name = text('name', false);
  const status = data.status === undefined || data.status === null ? undefined : String(data.status);
  const timestamp = data.timestamp;
  if (timestamp !== undefined && typeof timestamp !== 'number' && typeof timestamp !== 'string') {
    issues.push({ message: 'must be epoch milliseconds or an RFC 3339 time', path: ['timestamp'] });
  }
  if (issues.length > 0) return { issues };
  return {
    value: {
      id,
      user_id: userId!,
      type: type as UserEventType,
      email: email!,
      name,
      status,
      timestamp: timestamp as number | string | undefined,
    },
  };
}

/** The check `consume()` runs on each event's data (a Standard Schema, so it plugs into `schema`). */
export const userEventSchema: StandardSchemaV1<unknown, UserEvent> = {
  '~standard': { version: 1, vendor: 'meshkit-notifier', validate: check },
};
