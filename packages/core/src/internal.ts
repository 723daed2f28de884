/**
 * `@meshkit/core/internal`: plumbing the other meshkit packages share and users should not depend on
 * (it may change in any release): the shared timer queue, the option checks and the TLS failure mapping.
 */
export { type TimerEntry, TimerQueue, TimerTask, timerQueueFor } from './timer-queue.ts';
export { tlsAlertOf, tlsFailure } from './tls-failure.ts';
export { checkFunction, checkInteger, checkNumber, checkString } from './validate.ts';
