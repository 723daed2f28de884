/**
 * The policies at work against a local flaky HTTP server: `npm start`.
 *
 * A server on 127.0.0.1 (a free port) goes through three phases: flaky (some 503s with Retry-After, some
 * slow answers), down (503 for everything), healthy. A client calls it a bounded number of times through
 *
 *   deadline → retry (with a shared budget) → circuit breaker → bulkhead → per-attempt timeout
 *
 * using Node's built-in fetch, prints every decision the policies publish on their diagnostics channels,
 * then a summary, and exits.
 */
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type BreakerStateEvent,
  type BudgetExhaustedEvent,
  type BulkheadRejectedEvent,
  type CallContext,
  channels,
  createContext,
  ErrorCode,
  isAbortError,
  isMeshError,
  MeshError,
  type RetryScheduledEvent,
  type Service,
  stack,
  type TimeoutEvent,
} from '@meshkit/core';
import {
  bulkhead,
  circuitBreaker,
  consecutiveFailures,
  deadline,
  exponentialBackoff,
  RetryBudget,
  retry,
  timeout,
} from '@meshkit/policies';

// A watchdog: the example must end by itself; if anything hangs, say so and fail.
setTimeout(() => {
  console.error('resilient-calls: did not finish within 20 s');
  process.exit(1);
}, 20_000).unref();

// ---- the flaky server -------------------------------------------------------------------------------
type Phase = 'flaky' | 'down' | 'healthy';
let phase: Phase = 'flaky';
let served = 0;

const server = createServer((req, res) => {
  served++;
  const reply = (status: number, body: string, headers: Record<string, string> = {}): ServerResponse =>
    res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(body);
  if (phase === 'down') return void reply(503, 'down for maintenance');
  if (phase === 'flaky') {
    // Deterministic pattern so every run tells the same story: 1 in 4 refused with pushback, 1 in 4 slow.
    if (served % 4 === 1) return void reply(503, 'busy', { 'retry-after': '1' });
    if (served % 4 === 2) {
      const timer = setTimeout(() => reply(200, `slow answer to ${req.url}`), 400);
      res.on('close', () => clearTimeout(timer));
      return;
    }
  }
  reply(200, `answer to ${req.url}`);
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// ---- the client: fetch as a Service -----------------------------------------------------------------
const httpGet: Service<string, string> = async (path: string, ctx: CallContext) => {
  let response: Response;
  try {
    // Only ask for the signal when something can cancel the call: an uncancellable call pays for none.
    response = await fetch(base + path, ctx.cancellable ? { signal: ctx.signal } : {});
  } catch (error) {
    if (isAbortError(error) || ctx.aborted) throw error;
    throw new MeshError(ErrorCode.CONNECT, `GET ${path}: ${(error as Error).message}`, {
      cause: error,
      retryable: true,
    });
  }
  const body = await response.text();
  if (response.ok) return body;
  const retryAfter = response.headers.get('retry-after');
  throw new MeshError(ErrorCode.HTTP_STATUS, `GET ${path}: HTTP ${response.status}`, {
    retryable: response.status === 503 || response.status === 429,
    details: { status: response.status, headers: retryAfter === null ? {} : { 'retry-after': retryAfter } },
  });
};

const budget = new RetryBudget({
  percentCanRetry: 0.2,
  minRetriesPerSec: 4,
  windowMs: 2_000,
  name: 'flaky-budget',
});
const breaker = circuitBreaker<string, string>({
  strategy: consecutiveFailures({ threshold: 4 }),
  halfOpenAfterMs: 400,
  name: 'flaky-breaker',
});
const call = stack<string, string>(
  deadline({ timeoutMs: 2_000 }),
  retry({
    maxAttempts: 3,
    budget,
    backoff: exponentialBackoff({ baseDelayMs: 20, maxDelayMs: 200 }),
    maxDelayMs: 250,
  }),
  breaker,
  bulkhead({ maxConcurrent: 4, maxQueue: 4 }),
  timeout({ timeoutMs: 150 }),
).wrap(httpGet);

// ---- watch every decision ---------------------------------------------------------------------------
const t0 = performance.now();
const log = (line: string): void =>
  console.log(`${String(Math.round(performance.now() - t0)).padStart(5)} ms  ${line}`);
const describeError = (error: unknown): string =>
  isMeshError(error) ? `${error.code} (${error.message})` : String(error);
const counts = { retries: 0, timeouts: 0, budgetExhausted: 0, bulkheadRejected: 0, breakerChanges: 0 };

channels.retryScheduled.subscribe((e: RetryScheduledEvent) => {
  counts.retries++;
  log(`retry    attempt ${e.attempt} in ${Math.round(e.delayMs)} ms after ${describeError(e.error)}`);
});
channels.timeout.subscribe((e: TimeoutEvent) => {
  counts.timeouts++;
  log(`timeout  ${e.layer}: ${e.kind} limit of ${e.timeoutMs} ms reached, work aborted`);
});
channels.breakerState.subscribe((e: BreakerStateEvent) => {
  counts.breakerChanges++;
  log(`breaker  ${e.layer}: ${e.from} -> ${e.to}`);
});
channels.budgetExhausted.subscribe((e: BudgetExhaustedEvent) => {
  counts.budgetExhausted++;
  log(`budget   ${e.budget} exhausted: not retrying ${describeError(e.error)}`);
});
channels.bulkheadRejected.subscribe((e: BulkheadRejectedEvent) => {
  counts.bulkheadRejected++;
  log(`bulkhead ${e.layer} full (${e.active} running, ${e.queued} queued)`);
});

// ---- drive it ---------------------------------------------------------------------------------------
const outcomes = new Map<string, number>();
async function batch(label: string, n: number): Promise<void> {
  log(`--- ${label}: ${n} calls, 4 at a time`);
  for (let i = 0; i < n; i += 4) {
    const results = await Promise.allSettled(
      Array.from({ length: Math.min(4, n - i) }, (_, k) => call(`/items/${i + k}`, createContext())),
    );
    for (const r of results) {
      const key = r.status === 'fulfilled' ? 'ok' : isMeshError(r.reason) ? r.reason.code : String(r.reason);
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
  }
}

await batch('flaky server (some 503 + Retry-After, some slow)', 12);
phase = 'down';
await batch('server down', 12);
await new Promise((r) => setTimeout(r, 450));
phase = 'healthy';
await batch('server healthy again (after the breaker wait)', 8);

console.log('');
console.log('summary');
for (const [key, n] of [...outcomes].sort()) console.log(`  ${String(n).padStart(3)} x ${key}`);
console.log(
  `  ${counts.retries} retries, ${counts.timeouts} timeouts, ${counts.breakerChanges} breaker changes, ` +
    `${counts.budgetExhausted} budget refusals, ${counts.bulkheadRejected} bulkhead refusals; server saw ${served} requests`,
);
console.log(`  breaker now: ${JSON.stringify(breaker.describe())}`);
console.log(`  budget now:  ${JSON.stringify(budget.describe())}`);

server.closeAllConnections();
server.close();
