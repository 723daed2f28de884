import type { Socket } from 'node:net';
import { InvalidArgumentError } from '@meshkit/core';
import { tlsAlertOf } from '@meshkit/core/internal';
import { buildConnector } from 'undici';

/**
 * TLS settings for the client's connections. Giving any of them switches endpoints without a scheme to
 * `https`. PEM strings or buffers, as `node:tls` takes them.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * // mutual TLS: trust our CA, present our client certificate, check the server's name
 * httpClient({
 *   service: 'users',
 *   endpoints: ['10.0.0.5:8443'],
 *   tls: {
 *     ca: readFileSync('certs/ca.pem'),
 *     cert: readFileSync('certs/client.pem'),
 *     key: readFileSync('certs/client-key.pem'),
 *     servername: 'users.internal',
 *   },
 * });
 * ```
 */
export interface TlsOptions {
  /** Certificate authorities to trust instead of the system's. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Client certificate chain, for mutual TLS. Requires `key`. */
  readonly cert?: string | Buffer;
  /** Client private key, for mutual TLS. Requires `cert`. */
  readonly key?: string | Buffer;
  /** Server name to verify (and send as SNI) when the address is an IP or another name. */
  readonly servername?: string;
  /** Verify the server's certificate. Defaults to `true`; turning it off is for local experiments only. */
  readonly rejectUnauthorized?: boolean;
}

/** Validates {@link TlsOptions} and returns the `connect` options undici takes. */
export function tlsConnectOptions(tls: TlsOptions, field: string): Record<string, unknown> {
  if (typeof tls !== 'object' || tls === null)
    throw new InvalidArgumentError(field, 'must be an object', tls);
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new InvalidArgumentError(`${field}.cert`, 'and key must be given together');
  }
  if (tls.servername !== undefined && (typeof tls.servername !== 'string' || tls.servername === '')) {
    throw new InvalidArgumentError(`${field}.servername`, 'must be a non-empty string', tls.servername);
  }
  const out: Record<string, unknown> = { rejectUnauthorized: tls.rejectUnauthorized ?? true };
  if (tls.ca !== undefined) out.ca = tls.ca;
  if (tls.cert !== undefined) out.cert = tls.cert;
  if (tls.key !== undefined) out.key = tls.key;
  if (tls.servername !== undefined) out.servername = tls.servername;
  return out;
}

/**
 * undici's TLS connector, keeping the server's alert. Under TLS 1.3 the client finishes its handshake
 * before the server has checked the client certificate, so a refusal arrives as an alert on the first
 * read; undici then reports the end of the connection ("other side closed") in its place. Ending the
 * socket at the alert makes the alert the error undici fails the request with.
 */
export function alertKeepingConnector(options: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector(options);
  return (opts, callback) =>
    connect(opts, (error, socket) => {
      if (socket !== null && socket !== undefined) {
        const onError = (e: NodeJS.ErrnoException): void => {
          if (tlsAlertOf(e.code ?? '') !== undefined) (socket as Socket).destroy();
        };
        socket.on('error', onError);
        socket.once('close', () => socket.off('error', onError));
      }
      (callback as (error: Error | null, socket: unknown) => void)(error, socket);
    });
}
