import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { anyPack, anyUnpack } from '@bufbuild/protobuf/wkt';
import { GrpcStatusError } from './errors.ts';
import { BadRequestSchema } from './gen/google/rpc/error_details_pb.ts';
import { StatusSchema } from './gen/google/rpc/status_pb.ts';
import { Status } from './wire/status.ts';

/** One bad field of a request: its path (`email`, `users[0].name`) and what is wrong with it. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

const detailsKey = 'grpc-status-details-bin';

/**
 * An `INVALID_ARGUMENT` status carrying a `google.rpc.BadRequest` detail (in `grpc-status-details-bin`,
 * as gRPC's rich error model has it) that names each bad field. A handler throws it; a server also sends
 * it for our `InvalidArgumentError`, naming the error's `field`.
 *
 * @example
 * ```ts
 * throw badRequest([{ field: 'email', description: 'must contain @' }]);
 * ```
 */
export function badRequest(violations: readonly FieldViolation[], message?: string): GrpcStatusError {
  const text = message ?? violations.map((v) => `${v.field}: ${v.description}`).join('; ');
  const status = create(StatusSchema, {
    code: Status.INVALID_ARGUMENT,
    message: text,
    details: [anyPack(BadRequestSchema, create(BadRequestSchema, { fieldViolations: [...violations] }))],
  });
  return new GrpcStatusError(Status.INVALID_ARGUMENT, text, {
    metadata: { [detailsKey]: toBinary(StatusSchema, status) },
  });
}

/**
 * The field violations of a status error's `google.rpc.BadRequest` detail, from any server that sends
 * gRPC's rich error model; `[]` when there is none or it cannot be decoded.
 *
 * @example
 * ```ts
 * declare const form: { markInvalid(field: string, why: string): void };
 * declare function save(): Promise<void>;
 *
 * try {
 *   await save();
 * } catch (err) {
 *   for (const v of fieldViolations(err)) form.markInvalid(v.field, v.description);
 * }
 * ```
 */
export function fieldViolations(error: unknown): FieldViolation[] {
  if (!(error instanceof GrpcStatusError)) return [];
  const raw = (error.metadata as Record<string, unknown>)[detailsKey];
  const bytes = Array.isArray(raw) ? raw[0] : raw;
  if (!(bytes instanceof Uint8Array)) return [];
  try {
    const status = fromBinary(StatusSchema, bytes);
    return status.details.flatMap((any) => {
      const detail = anyUnpack(any, BadRequestSchema);
      return detail === undefined
        ? []
        : detail.fieldViolations.map((v) => ({ field: v.field, description: v.description }));
    });
  } catch {
    return [];
  }
}
