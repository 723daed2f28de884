/**
 * `@meshkit/policies`: resilience policies, each a `Layer` whose decision is a small strategy object.
 * Compose them with `stack()` from `@meshkit/core`; a common order is
 * `deadline → retry (with a budget) → circuitBreaker → bulkhead → timeout` (see docs/policies.md).
 */
export * from './bulkhead/index.ts';
export * from './circuit-breaker/index.ts';
export * from './fallback/index.ts';
export * from './hedge/index.ts';
export * from './rate-limit/index.ts';
export * from './retry/index.ts';
export * from './timeout/index.ts';
