/**
 * `@meshkit/messaging-postgres`: the transactional outbox (with the relay's store) and the idempotent
 * inbox on PostgreSQL through `pg`.
 */
export { type PgInbox, type PgInboxOptions, pgInbox } from './pg-inbox.ts';
export { PgOutbox, type PgOutboxOptions, pgOutbox, type Queryable } from './pg-outbox.ts';
