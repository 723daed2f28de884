/**
 * `@meshkit/core/internal`: plumbing the other meshkit packages share and users should not depend on
 * (it may change in any release): the shared timer queue, the option checks, the Node version checks and
 * the TLS failure mapping.
 */

export { NODE_SQLITE_FLOOR, nodeAtLeast, nodeSqlite, nodeTooOldMessage, requireNode } from './node-floor.ts';
export { failedEndpointOf, noteFailedEndpoint } from './previous-endpoints.ts';
export { openSqliteFile } from './sqlite-file.ts';
export { type TimerEntry, TimerQueue, TimerTask, timerQueueFor } from './timer-queue.ts';
export { tlsAlertOf, tlsFailure } from './tls-failure.ts';
export { checkFunction, checkInteger, checkNumber, checkString } from './validate.ts';
