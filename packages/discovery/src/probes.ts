import { request } from 'node:http';
import { connect } from 'node:net';
import { checkInteger, checkString, ErrorCode, InvalidArgumentError, MeshError } from '@meshkit/core';
import { grpcProbe } from './grpc-probe.ts';
import type { HealthCheckSpec } from './instance.ts';

/**
 * Active health probes: functions of an endpoint's `host:port` address that resolve when it is healthy
 * and reject when not. They have the shape `@meshkit/balance`'s `healthCheck.probe` expects, and stop as
 * soon as `signal` aborts (the checker's timeout).
 */

/** A probe: resolves when healthy, rejects (with the reason) when not. */
export type Probe = (endpoint: { readonly address: string }, signal: AbortSignal) => Promise<void>;

/** Options for {@link httpProbe}. */
export interface HttpProbeOptions {
  /** Path to `GET`. Defaults to `/healthz`. */
  readonly path?: string;
  /** The status that counts as healthy. Defaults to any 2xx. */
  readonly expectedStatus?: number;
  /** Extra request headers, e.g. `host`. */
  readonly headers?: Readonly<Record<string, string>>;
}

function split(address: string): { host: string; port: number } {
  const url = new URL(`tcp://${address}`);
  const port = Number(url.port);
  if (url.hostname === '' || !Number.isInteger(port) || port < 1) {
    throw new InvalidArgumentError('endpoint.address', 'must be host:port', address);
  }
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port };
}

/**
 * HTTP check: `GET path` over plain HTTP/1.1; healthy when the status is `expectedStatus` (or any 2xx).
 *
 * @example
 * ```ts
 * import { balance } from '@meshkit/balance';
 * import { httpTransport } from '@meshkit/http';
 * balance({
 *   service: 'users',
 *   endpoints: [{ id: 'users-1', address: '10.0.0.7:8080' }],
 *   connect: (endpoint) => httpTransport(endpoint.address),
 *   healthCheck: { probe: httpProbe({ path: '/healthz' }), intervalMs: 5_000 },
 * });
 * ```
 */
export function httpProbe(options: HttpProbeOptions = {}): Probe {
  const path = checkString('httpProbe.path', options.path ?? '/healthz');
  if (!path.startsWith('/')) throw new InvalidArgumentError('httpProbe.path', 'must start with "/"', path);
  const expected =
    options.expectedStatus === undefined
      ? undefined
      : checkInteger('httpProbe.expectedStatus', options.expectedStatus, 100, 599);
  const headers = { ...options.headers };
  return (endpoint, signal) =>
    new Promise<void>((resolve, reject) => {
      const { host, port } = split(endpoint.address);
      const req = request({ host, port, path, method: 'GET', headers, signal, agent: false }, (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        const ok = expected === undefined ? status >= 200 && status < 300 : status === expected;
        if (ok) resolve();
        else
          reject(
            new MeshError(ErrorCode.HTTP_STATUS, `GET ${path} on ${endpoint.address} answered ${status}`, {
              details: { status },
            }),
          );
      });
      req.on('error', (err) =>
        reject(
          signal.aborted ? signal.reason : new MeshError(ErrorCode.CONNECT, err.message, { cause: err }),
        ),
      );
      req.end();
    });
}

/**
 * TCP check: healthy when a connection to the address opens; it is closed at once.
 *
 * @example
 * ```ts
 * import { balance } from '@meshkit/balance';
 * import { httpTransport } from '@meshkit/http';
 * balance({
 *   service: 'users',
 *   endpoints: [{ id: 'users-1', address: '10.0.0.7:8080' }],
 *   connect: (endpoint) => httpTransport(endpoint.address),
 *   healthCheck: { probe: tcpProbe() },
 * });
 * ```
 */
export function tcpProbe(): Probe {
  return (endpoint, signal) =>
    new Promise<void>((resolve, reject) => {
      const { host, port } = split(endpoint.address);
      const socket = connect({ host, port, signal });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', (err) =>
        reject(
          signal.aborted ? signal.reason : new MeshError(ErrorCode.CONNECT, err.message, { cause: err }),
        ),
      );
    });
}

/**
 * The probe for a registered instance's check spec: `http`, `tcp` and `grpc` (`grpc.health.v1`, plaintext);
 * `ttl` checks are reported by the instance itself, so they have no probe (`undefined`).
 */
export function probeFor(spec: HealthCheckSpec | undefined): Probe | undefined {
  if (spec === undefined) return undefined;
  if (spec.type === 'http') {
    return httpProbe({
      path: spec.path,
      ...(spec.expectedStatus === undefined ? {} : { expectedStatus: spec.expectedStatus }),
    });
  }
  if (spec.type === 'tcp') return tcpProbe();
  if (spec.type === 'grpc') return grpcProbe(spec.service === undefined ? {} : { service: spec.service });
  return undefined;
}
