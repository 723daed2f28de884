/** `GET /notifications?user_id=&limit=`: what the notifier recorded, newest first. */
import { HttpProblem, type KitHandler } from '@meshkit/http';
import type { NotificationStore } from './store.ts';

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
    return { body: { notifications: await store.list({ userId, limit }) } };
  };
}
