import { type Clock, checkFunction, checkInteger } from '@meshkit/core';

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
