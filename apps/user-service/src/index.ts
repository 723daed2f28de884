/**
 * `@meshkit/user-service`: the seed's UserService on meshkit. REST and gRPC from one process, SQLite or
 * PostgreSQL storage behind one `UserStore`, every change an event through the transactional outbox,
 * and live event streams from every instance.
 */
export { isUserError, UserError, type UserErrorKind } from './errors.ts';
export { type EventHub, type EventHubOptions, eventHub } from './event-hub.ts';
export {
  type EventRouting,
  readUserEvent,
  topicFor,
  topicPatterns,
  type UserChange,
  type UserEventData,
  type UserEventType,
  userEvent,
} from './events.ts';
export { eventMessage, grpcError, userMessage, userServiceImpl } from './grpc.ts';
export { migratePostgres, postgresMigrations } from './migrations/postgres.ts';
export { migrateSqlite, sqliteMigrations } from './migrations/sqlite.ts';
export { type PageCursor, type PageTokens, pageTokens } from './page-token.ts';
export { type PgIdempotencyStoreOptions, pgIdempotencyStore } from './pg-idempotency.ts';
export { restError, restHandler, userJson } from './rest.ts';
export { type RunningUserService, startUserService, type UserServiceOptions } from './service.ts';
export type { UserStore, UserWrite } from './store.ts';
export {
  openPostgresUserStore,
  type PostgresUserStore,
  type PostgresUserStoreOptions,
} from './store-postgres.ts';
export { openSqliteUserStore, type SqliteUserStoreOptions } from './store-sqlite.ts';
export { newUserId, type User, type UserStatusName, userStatuses } from './user.ts';
export {
  type CreateUserInput,
  type ListUsersInput,
  type PageSizeOptions,
  type UpdateUserInput,
  type UserPage,
  type Users,
  type UsersOptions,
  users,
} from './users.ts';
export { checkEmail, checkName, checkStatus, maxEmailLength, nameLength } from './validation.ts';
