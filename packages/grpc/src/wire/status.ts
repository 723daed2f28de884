import { GrpcStatus, grpcStatusName } from '@meshkit/core';

/**
 * The gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html), by name: core's
 * `GrpcStatus` table. Callers branch on these numbers; {@link statusName} gives the name for messages
 * and logs.
 */
export const Status = GrpcStatus;

/** One of the {@link Status} numbers. */
export type Status = GrpcStatus;

/** The name of a status code (`NOT_FOUND`), or `CODE_<n>` for a number outside the list. */
export const statusName: (code: number) => string = grpcStatusName;

/** Reads a `grpc-status` value; anything that is not a number in 0..16 becomes `UNKNOWN`, as the spec says. */
export function parseStatus(value: string | undefined): Status {
  if (value === undefined || !/^\d{1,2}$/.test(value)) return Status.UNKNOWN;
  const code = Number(value);
  return code <= 16 ? (code as Status) : Status.UNKNOWN;
}

/**
 * Percent-encodes a `grpc-message` value as the spec asks: bytes outside printable ASCII and `%` itself.
 */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte < 0x20 || byte > 0x7e || byte === 0x25
        ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
        : String.fromCharCode(byte);
  }
  return out;
}

/** Decodes a percent-encoded `grpc-message`; a malformed escape is kept as it is (never throws). */
export function decodeGrpcMessage(value: string | undefined): string {
  if (value === undefined || value === '') return '';
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
