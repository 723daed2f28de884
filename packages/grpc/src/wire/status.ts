/**
 * The gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html), by name.
 * Callers branch on these numbers; {@link statusName} gives the name for messages and logs.
 */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** One of the {@link Status} numbers. */
export type Status = (typeof Status)[keyof typeof Status];

const names = Object.fromEntries(Object.entries(Status).map(([name, code]) => [code, name])) as Record<
  number,
  string
>;

/** The name of a status code (`NOT_FOUND`), or `CODE_<n>` for a number outside the list. */
export function statusName(code: number): string {
  return names[code] ?? `CODE_${code}`;
}

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
