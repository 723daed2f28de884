/**
 * The gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html), by name: the one
 * table every package reads (the gRPC transport, and routing's `retryOn` conditions and `abort.grpcStatus`
 * faults), so no package needs the gRPC one for it.
 */
export const GrpcStatus = {
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

/** One of the {@link GrpcStatus} numbers. */
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

const names = Object.fromEntries(Object.entries(GrpcStatus).map(([name, code]) => [code, name])) as Record<
  number,
  string
>;

/**
 * The name of a status code (`NOT_FOUND`), or `CODE_<n>` for a number outside the list.
 *
 * @example
 * ```ts
 * grpcStatusName(14); // 'UNAVAILABLE'
 * ```
 */
export function grpcStatusName(code: number): string {
  return names[code] ?? `CODE_${code}`;
}

/**
 * The code of a status name, in any case and with `-` or `_` (`unavailable`, `DEADLINE_EXCEEDED`,
 * `deadline-exceeded`), or `undefined` for a name that is not one.
 *
 * @example
 * ```ts
 * grpcStatusCode('resource-exhausted'); // 8
 * ```
 */
export function grpcStatusCode(name: string): GrpcStatus | undefined {
  const key = name.toUpperCase().replaceAll('-', '_');
  return Object.hasOwn(GrpcStatus, key) ? GrpcStatus[key as keyof typeof GrpcStatus] : undefined;
}
