import { ErrorCode, MeshError } from './errors.ts';

/** Codes of a failed TLS handshake, from OpenSSL and Node: nothing was sent, and trying again fails alike. */
const tlsCodes = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH)/;

/** OpenSSL's codes for a TLS alert the server sent, e.g. `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`. */
const alertCode = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(.+)$/;

/** The TLS alert an error code names (`certificate_required`, `unknown_ca`, ...), if it names one. */
export function tlsAlertOf(code: string): string | undefined {
  const match = alertCode.exec(code);
  return match === null ? undefined : match[1]!.toLowerCase();
}

/**
 * A failed TLS handshake as every transport reports it, or `undefined` when `code` is no TLS failure:
 * `ERR_CONNECT`, not retryable, `rejected` (nothing was sent), with `details.tlsHandshake` and, when the
 * server sent an alert (under TLS 1.3 a refused client certificate arrives as one after the handshake),
 * `details.tlsAlert`. The message says what to fix.
 */
export function tlsFailure(code: string, address: string, cause: unknown): MeshError | undefined {
  if (!tlsCodes.test(code)) return undefined;
  const alert = tlsAlertOf(code);
  return new MeshError(
    ErrorCode.CONNECT,
    `TLS handshake with ${address} failed (${code}): ${tlsFix(code, alert)}`,
    {
      cause,
      rejected: true,
      details: {
        address,
        cause: code,
        tlsHandshake: true,
        ...(alert === undefined ? {} : { tlsAlert: alert }),
      },
    },
  );
}

/** What to change, for a failed TLS handshake: the server's alert, or what the client could not verify. */
function tlsFix(code: string, alert: string | undefined): string {
  switch (alert) {
    case 'certificate_required':
      return 'the server requires a client certificate; set tls.cert and tls.key';
    case 'unknown_ca':
      return "the server does not trust the client certificate's issuer; use a certificate signed by a CA it trusts";
    case 'certificate_expired':
      return 'the server refused the client certificate as expired; renew it';
    case 'certificate_revoked':
      return 'the server refused the client certificate as revoked';
    case 'bad_certificate':
    case 'unsupported_certificate':
    case 'certificate_unknown':
    case 'access_denied':
      return 'the server refused the client certificate; check tls.cert and tls.key';
    case undefined:
      break;
    default:
      return `the server sent the TLS alert ${alert}`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return "the server's certificate is not for this name; set tls.servername to a name it has";
  }
  if (code === 'CERT_HAS_EXPIRED') return "the server's certificate has expired";
  return "the server's certificate could not be verified; set tls.ca to the CA that signed it";
}
