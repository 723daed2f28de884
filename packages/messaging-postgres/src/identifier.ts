import { InvalidArgumentError } from '@meshkit/core';

/** Checks a table name is a plain SQL identifier (it is interpolated into statements). */
export function checkIdentifier(field: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[a-z_][a-z0-9_]{0,50}$/.test(value)) {
    throw new InvalidArgumentError(field, 'must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)', value);
  }
  return value;
}
