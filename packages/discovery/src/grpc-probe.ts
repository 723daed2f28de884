import { connect, constants, type SecureClientSessionOptions } from 'node:http2';
import { ErrorCode, MeshError, type Probe } from '@meshkit/core';

/**
 * The gRPC health check (`grpc.health.v1.Health/Check`) spoken directly over `node:http2`: the request
 * and response are one-field protobuf messages, so a few bytes of hand encoding replace a gRPC stack and
 * keep `@meshkit/discovery` free of dependencies. Plaintext (h2c) by default; TLS and mutual TLS with `tls`.
 */

/** Options for {@link grpcProbe}. */
export interface GrpcProbeOptions {
  /** `HealthCheckRequest.service`; `''` (the default) asks about the whole server. */
  readonly service?: string;
  /**
   * Probe over TLS: certificate authorities to trust (`ca`, instead of the system's), a client
   * certificate and key for mutual TLS, the name to verify (`servername`) when the address is an IP.
   * PEM strings or buffers. Without it the probe speaks cleartext HTTP/2.
   */
  readonly tls?: {
    readonly ca?: string | Buffer | readonly (string | Buffer)[];
    readonly cert?: string | Buffer;
    readonly key?: string | Buffer;
    readonly servername?: string;
  };
}

const servingStatusNames = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** A length-prefixed gRPC message holding `HealthCheckRequest { string service = 1; }`. */
function requestFrame(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const message = name.length === 0 ? Buffer.alloc(0) : Buffer.from([0x0a, ...varint(name.length), ...name]);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** Reads `HealthCheckResponse { ServingStatus status = 1; }` from a gRPC message body. */
function servingStatus(body: Buffer): number {
  if (body.length < 5) return 0;
  const message = body.subarray(5, 5 + body.readUInt32BE(1));
  for (let i = 0; i < message.length; ) {
    const tag = message[i++]!;
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = message[i++]!;
      value |= (byte & 0x7f) << shift;
      shift += 7;
      if ((byte & 0x80) === 0 || i >= message.length) break;
    }
    if (tag === 0x08) return value;
    if ((tag & 7) === 2) i += value; // skip an unknown length-delimited field
  }
  return 0;
}

/**
 * gRPC health check: healthy when `Check` answers `SERVING`. `NOT_SERVING`, an unknown service
 * (`NOT_FOUND`), an `UNIMPLEMENTED` health service and connection failures all fail the probe.
 *
 * @example
 * ```ts
 * import { balance } from '@meshkit/balance';
 * import { httpTransport } from '@meshkit/http';
 * // a service that also serves grpc.health.v1 (on the same port, over h2c)
 * balance({
 *   service: 'users',
 *   endpoints: [{ id: 'users-1', address: '10.0.0.7:8080' }],
 *   connect: (endpoint) => httpTransport(endpoint.address),
 *   healthCheck: { probe: grpcProbe({ service: 'user.UserService' }) },
 * });
 * ```
 */
export function grpcProbe(options: GrpcProbeOptions = {}): Probe {
  const frame = requestFrame(options.service ?? '');
  const tls = options.tls;
  const tlsOptions: SecureClientSessionOptions | undefined =
    tls === undefined
      ? undefined
      : {
          ALPNProtocols: ['h2'],
          ...(tls.ca === undefined ? {} : { ca: tls.ca as string | Buffer | (string | Buffer)[] }),
          ...(tls.cert === undefined ? {} : { cert: tls.cert }),
          ...(tls.key === undefined ? {} : { key: tls.key }),
          ...(tls.servername === undefined ? {} : { servername: tls.servername }),
        };
  return (endpoint, signal) =>
    new Promise<void>((resolve, reject) => {
      const session =
        tlsOptions === undefined
          ? connect(`http://${endpoint.address}`)
          : connect(`https://${endpoint.address}`, tlsOptions);
      const fail = (err: unknown): void => {
        session.destroy();
        reject(err);
      };
      const onAbort = (): void => fail(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      session.on('error', (err) =>
        fail(signal.aborted ? signal.reason : new MeshError(ErrorCode.CONNECT, err.message, { cause: err })),
      );
      const stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: '/grpc.health.v1.Health/Check',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let grpcStatus: string | undefined;
      let grpcMessage = '';
      const readStatus = (headers: Record<string, unknown>): void => {
        if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
        if (headers['grpc-message'] !== undefined)
          grpcMessage = decodeURIComponent(String(headers['grpc-message']));
      };
      let responded = false;
      stream.on('response', (headers) => {
        responded = true;
        readStatus(headers); // a trailers-only answer carries its status here
      });
      stream.on('trailers', readStatus);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err) => {
        if (signal.aborted) return fail(signal.reason);
        // Before any response the stream fails because the connection did (refused, unreachable).
        const code = responded ? ErrorCode.CONNECTION_RESET : ErrorCode.CONNECT;
        fail(new MeshError(code, (err.cause as Error | undefined)?.message ?? err.message, { cause: err }));
      });
      stream.on('end', () => {
        signal.removeEventListener('abort', onAbort);
        session.close();
        const code = Number(grpcStatus ?? 2);
        if (code !== 0) {
          reject(
            new MeshError(
              ErrorCode.GRPC_STATUS,
              `health check on ${endpoint.address} ended with gRPC status ${code}${grpcMessage ? `: ${grpcMessage}` : ''}`,
              {
                details: { grpcStatus: code },
              },
            ),
          );
          return;
        }
        const status = servingStatus(Buffer.concat(chunks));
        if (status === 1) resolve();
        else
          reject(
            new MeshError(
              ErrorCode.GRPC_STATUS,
              `${endpoint.address} is ${servingStatusNames[status] ?? status}`,
              {
                details: { grpcStatus: 0, servingStatus: status },
              },
            ),
          );
      });
      stream.end(frame);
    });
}
