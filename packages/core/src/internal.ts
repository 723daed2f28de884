/**
 * `@meshkit/core/internal`: plumbing the other meshkit packages share and users should not depend on
 * (it may change in any release): the shared timer queue and the option checks.
 */
export { type TimerEntry, TimerQueue, TimerTask, timerQueueFor } from './timer-queue.ts';
export { checkFunction, checkInteger, checkNumber, checkString } from './validate.ts';
