import { FakeClock } from '@meshkit/core';
import { type ConformanceAnswer, layerConformance } from '@meshkit/testkit';
import { bulkhead } from './bulkhead/index.ts';
import { circuitBreaker, consecutiveFailures } from './circuit-breaker/index.ts';
import { fallback } from './fallback/index.ts';
import { hedge } from './hedge/index.ts';
import { rateLimit } from './rate-limit/index.ts';
import { constantBackoff, retry } from './retry/index.ts';
import { deadline, timeout } from './timeout/index.ts';

// Every policy passes the one layer conformance suite (alone; the pipeline and fusion tests cover them
// together).
const clock = () => new FakeClock();
type A = ConformanceAnswer;

layerConformance({ name: 'timeout', clock, make: () => timeout<string, A>({ timeoutMs: 1_000 }) });
layerConformance({ name: 'deadline', clock, make: () => deadline<string, A>({ timeoutMs: 1_000 }) });
layerConformance({
  name: 'retry',
  clock,
  recovers: true,
  make: () => retry<string, A>({ maxAttempts: 3, backoff: constantBackoff(100), retryOn: () => true }),
});
layerConformance({
  name: 'circuit breaker',
  clock,
  make: (c) => circuitBreaker<string, A>({ clock: c, strategy: consecutiveFailures({ threshold: 5 }) }),
});
layerConformance({
  name: 'bulkhead',
  clock,
  make: () => bulkhead<string, A>({ maxConcurrent: 1, maxQueue: 1 }),
});
layerConformance({ name: 'hedge', clock, make: () => hedge<string, A>({ delayMs: 200 }) });
layerConformance({
  name: 'fallback',
  clock,
  recovers: true,
  make: () => fallback<string, A>({ value: { value: 'fallback' } }),
});
layerConformance({
  name: 'rate limit',
  clock,
  make: (c) => rateLimit<string, A>({ clock: c, ratePerSec: 10, burst: 2, waitUpToMs: 500 }),
});
