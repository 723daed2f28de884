/**
 * `GET /notifications?user_id=&type=&limit=`: what the notifier recorded, newest first, with `total`, how
 * many match the filters whatever the limit.
 */
import { HttpProblem, type KitHandler } from '@meshkit/http';
import type { NotificationStore } from './store.ts';
import { type UserEventType, userEventTypes } from './user-event.ts';

/** Listing limits. */
export interface ListLimits {
  /** Used when `limit` is absent. */
  readonly defaultLimit: number;
  /** The largest `limit` accepted. */
  readonly maxLimit: number;
}

/** The notifier's REST handler over `store`. */
export function notificationsApi(store: NotificationStore, limits: ListLimits): KitHandler {
  return async (req) => {
    if (req.path !== '/notifications') {
      throw new HttpProblem({ status: 404, title: 'not found', detail: `no resource at ${req.path}` });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new HttpProblem({ status: 405, title: 'method not allowed' }, { allow: 'GET, HEAD' });
    }
    const userId = req.query.get('user_id') ?? undefined;
    if (userId === '') {
      throw new HttpProblem({
        status: 400,
        title: 'invalid query',
        detail: 'user_id must not be empty',
        field: 'user_id',
      });
    }
    const rawLimit = req.query.get('limit');
    const limit = rawLimit === null ? limits.defaultLimit : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > limits.maxLimit) {
      throw new HttpProblem({
        status: 400,
        title: 'invalid query',
        detail: `limit must be an integer from 1 to ${limits.maxLimit}`,
        field: 'limit',
      });
    }
    const rawType = req.query.get('type');
    if (rawType !== null && !(userEventTypes as readonly string[]).includes(rawType)) {
      throw new HttpProblem({
        status: 400,
        title: 'invalid query',
        detail: `type must be one of ${userEventTypes.join(', ')}`,
        field: 'type',
      });
    }
    const type = rawType === null ? undefined : (rawType as UserEventType);
    const [notifications, total] = await Promise.all([
      store.list({ userId, type, limit }),
      store.count({ userId, type }),
    ]);
    return { body: { notifications, total } };
  };
}
