/**
 * `@meshkit/messaging-sqlite`: the embedded durable broker (the default), on a SQLite file shared by
 * the processes of one machine.
 */
export { type Synchronous, schemaSql } from './schema.ts';
export {
  type PendingMessage,
  SqliteBroker,
  type SqliteBrokerOptions,
  sqliteBroker,
} from './sqlite-broker.ts';
export { type SqliteInboxOptions, sqliteInbox } from './sqlite-inbox.ts';
export { type OutboxWriter, SqliteOutbox, type SqliteOutboxOptions, sqliteOutbox } from './sqlite-outbox.ts';
