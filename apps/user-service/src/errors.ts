/**
 * The one error type of the user domain. Both transports map it, from the same `kind`:
 *
 * | kind | REST | gRPC |
 * | --- | --- | --- |
 * | `invalid-argument` | 400 problem naming `field` | `INVALID_ARGUMENT` with a `google.rpc.BadRequest` detail |
 * | `not-found` | 404 | `NOT_FOUND` |
 * | `already-exists` | 409 | `ALREADY_EXISTS` |
 * | `resource-exhausted` | 429 | `RESOURCE_EXHAUSTED` |
 * | `unavailable` | 503 | `UNAVAILABLE` |
 */
export type UserErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'resource-exhausted'
  | 'unavailable';

/** A failure the caller can act on; its message is safe to show. */
export class UserError extends Error {
  readonly kind: UserErrorKind;
  /** The request field at fault (`email`, `page_token`), when there is one. */
  readonly field: string | undefined;

  constructor(kind: UserErrorKind, message: string, field?: string) {
    super(message);
    this.name = 'UserError';
    this.kind = kind;
    this.field = field;
  }
}

/** Bad input: names the field and the rule. */
export function invalid(field: string, rule: string): UserError {
  return new UserError('invalid-argument', `${field} ${rule}`, field);
}

/** `true` for a {@link UserError} (also one from another copy of this module). */
export function isUserError(error: unknown): error is UserError {
  return (
    error instanceof Error && error.name === 'UserError' && typeof (error as UserError).kind === 'string'
  );
}
