/**
 * The backoff strategies live in `@meshkit/core`, shared with the message consumer of
 * `@meshkit/messaging`; the retry policy re-exports them where its docs teach them.
 */
export {
  type Backoff,
  constantBackoff,
  type ExponentialBackoffOptions,
  exponentialBackoff,
  type Jitter,
} from '@meshkit/core';
