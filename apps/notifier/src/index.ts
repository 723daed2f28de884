/**
 * `@meshkit/notifier`: consumes user events through the idempotent inbox, records the notification
 * each would send (SQLite by default, PostgreSQL with `DATABASE_URL`) and serves them over REST.
 */
export { type Notifier, type NotifierOptions, notificationOf, startNotifier } from './notifier.ts';
export { type PgNotificationStoreOptions, pgNotificationStore } from './pg-store.ts';
export { renderMessage } from './render.ts';
export { type SqliteNotificationStoreOptions, sqliteNotificationStore } from './sqlite-store.ts';
export type { Notification, NotificationQuery, NotificationStore } from './store.ts';
export { type UserEvent, type UserEventType, userEventSchema, userEventTypes } from './user-event.ts';
