import { GrpcStatusError } from '../errors.ts';
import { HealthCheckResponse_ServingStatus as ServingStatus } from '../gen/grpc/health/v1/health_pb.ts';
import { Status } from '../wire/status.ts';
import type { ServerCall } from './types.ts';

/** A service's health as `grpc.health.v1` reports it. */
export type HealthState = 'SERVING' | 'NOT_SERVING';

/**
 * The statuses the `grpc.health.v1.Health` service reports: one per service name, and `''` for the server
 * as a whole. The server sets every one to `SERVING` when it starts listening and to `NOT_SERVING` when
 * its shutdown begins, so load balancers and `grpc_health_probe` stop sending before calls are refused.
 */
export class HealthStatus {
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #watchers = new Set<() => void>();

  /** Sets the status of `service` (`''` for the whole server) and wakes its watchers. */
  set(service: string, state: HealthState): void {
    this.#statuses.set(service, state === 'SERVING' ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    for (const wake of this.#watchers) wake();
  }

  /** Sets every known service and the server itself. */
  setAll(state: HealthState): void {
    for (const service of [...this.#statuses.keys(), '']) this.set(service, state);
  }

  /** The status of `service`, or `undefined` when it is unknown. */
  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /** The `Check` handler: the status, or `NOT_FOUND` for an unknown service (as the spec says). */
  check = (request: { service: string }): { status: ServingStatus } => {
    const status = this.#statuses.get(request.service);
    if (status === undefined)
      throw new GrpcStatusError(Status.NOT_FOUND, `unknown service ${request.service}`);
    return { status };
  };

  /** The `List` handler: every service's status. */
  list = (): { statuses: Record<string, { status: ServingStatus }> } => {
    const statuses: Record<string, { status: ServingStatus }> = {};
    for (const [service, status] of this.#statuses) statuses[service] = { status };
    return { statuses };
  };

  /** The `Watch` handler: the current status, then every change, until the client cancels. */
  watch = (request: { service: string }, call: ServerCall): AsyncIterable<{ status: ServingStatus }> => {
    const statuses = this.#statuses;
    const watchers = this.#watchers;
    return {
      async *[Symbol.asyncIterator]() {
        let last: ServingStatus | undefined;
        let wake: (() => void) | undefined;
        const wakeUp = (): void => wake?.();
        watchers.add(wakeUp);
        const stop = call.ctx.onAbort(wakeUp);
        try {
          while (!call.ctx.aborted) {
            const status = statuses.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
            if (status !== last) {
              last = status;
              yield { status };
              continue;
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
        } finally {
          stop();
          watchers.delete(wakeUp);
        }
      },
    };
  };
}
