import { type Clock, checkFunction, checkInteger, type Layer } from '@meshkit/core';
import type { HttpCall, HttpReply } from './call.ts';
import { encodeResponse } from './respond.ts';

/** A readiness check: resolves when the dependency is usable, throws (or rejects) when it is not. */
export type ReadinessCheck = () => unknown;

/** The outcome of running the readiness checks. */
export interface ReadinessReport {
  readonly ready: boolean;
  /** `ok`, `fail` or `timeout` per check; causes stay in the server's own logs, never on the wire. */
  readonly checks: Readonly<Record<string, 'ok' | 'fail' | 'timeout'>>;
}

/** Validates the checks map. */
export function checkReadinessChecks(
  checks: Readonly<Record<string, ReadinessCheck>> | undefined,
  field: string,
): Readonly<Record<string, ReadinessCheck>> {
  const out: Record<string, ReadinessCheck> = {};
  for (const [name, check] of Object.entries(checks ?? {}))
    out[name] = checkFunction(`${field}.${name}`, check);
  return out;
}

/** Runs every check concurrently, each bounded by `timeoutMs` (validated by the caller). */
export async function runReadiness(
  checks: Readonly<Record<string, ReadinessCheck>>,
  timeoutMs: number,
  clock: Clock,
): Promise<ReadinessReport> {
  checkInteger('checkTimeoutMs', timeoutMs, 1);
  const names = Object.keys(checks);
  const results = await Promise.all(
    names.map(
      (name) =>
        new Promise<'ok' | 'fail' | 'timeout'>((resolve) => {
          const timer = clock.setTimeout(() => resolve('timeout'), timeoutMs);
          Promise.resolve()
            .then(() => checks[name]!())
            .then(
              () => resolve('ok'),
              () => resolve('fail'),
            )
            .finally(() => clock.clearTimeout(timer));
        }),
    ),
  );
  const report: Record<string, 'ok' | 'fail' | 'timeout'> = {};
  names.forEach((name, i) => {
    report[name] = results[i]!;
  });
  return { ready: results.every((r) => r === 'ok'), checks: report };
}

/** Options of {@link healthLayer}. */
export interface HealthLayerOptions {
  /** Readiness checks run by `/readyz`, by name (validated by the caller). */
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
  /** Bound on each check, in ms. */
  readonly checkTimeoutMs: number;
  readonly clock: Clock;
  /** `true` once shutdown began: `/readyz` then answers 503 `draining`. */
  readonly draining: () => boolean;
}

/**
 * The server's health step, outermost so it keeps answering while the server drains: `GET /healthz`
 * (and `HEAD`)
 * answers 200 while the process runs; `GET /readyz` runs the checks and answers 200 when all pass and
 * the server is not draining, else 503. Every other request goes on to the next service.
 */
export function healthLayer(options: HealthLayerOptions): Layer<HttpCall, HttpReply> {
  const { checks, checkTimeoutMs, clock, draining } = options;
  return {
    name: 'health',
    wrap(next) {
      return async (call, ctx) => {
        if (call.method !== 'GET' && call.method !== 'HEAD') return next(call, ctx);
        if (call.path === '/healthz') return encodeResponse({ body: { status: 'ok' } });
        if (call.path !== '/readyz') return next(call, ctx);
        const report = await runReadiness(checks, checkTimeoutMs, clock);
        const isDraining = draining();
        const ready = report.ready && !isDraining;
        const status = ready ? 'ready' : isDraining ? 'draining' : 'not ready';
        return encodeResponse({ status: ready ? 200 : 503, body: { status, checks: report.checks } });
      };
    },
  };
}
