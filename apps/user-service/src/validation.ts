import { invalid } from './errors.ts';
import { type UserStatusName, userStatuses } from './user.ts';

/** Longest e-mail address accepted, in characters (RFC 5321's path limit). */
export const maxEmailLength = 254;
/** Shortest and longest name accepted, in Unicode code points, after trimming. */
export const nameLength = { min: 1, max: 100 } as const;

// One '@', a non-empty local part and a dotted domain, no whitespace or control characters.
const emailPattern = /^[^\s@\p{Cc}]{1,64}@[^\s@\p{Cc}]+\.[^\s@\p{Cc}]+$/u;
const controlCharacters = /\p{Cc}/u;

/** Checks and normalises an e-mail address: trimmed, lower-cased, at most {@link maxEmailLength}. */
export function checkEmail(value: unknown, field = 'email'): string {
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  const email = value.trim().toLowerCase();
  if (email.length === 0) throw invalid(field, 'is required');
  if (email.length > maxEmailLength) throw invalid(field, `must be at most ${maxEmailLength} characters`);
  if (!emailPattern.test(email)) throw invalid(field, 'must be an e-mail address (local@domain.tld)');
  return email;
}

/** Checks a name: trimmed, {@link nameLength} code points, no control characters. */
export function checkName(value: unknown, field = 'name'): string {
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  const name = value.trim();
  const length = [...name].length;
  if (length < nameLength.min) throw invalid(field, 'is required');
  if (length > nameLength.max) throw invalid(field, `must be at most ${nameLength.max} characters`);
  if (controlCharacters.test(name)) throw invalid(field, 'must not contain control characters');
  return name;
}

/** Checks a status given by its proto enum name (`UNKNOWN` is not a status a user can have). */
export function checkStatus(value: unknown, field = 'status'): UserStatusName {
  if (typeof value === 'string' && (userStatuses as readonly string[]).includes(value)) {
    return value as UserStatusName;
  }
  throw invalid(field, `must be one of ${userStatuses.join(', ')}`);
}

/** Checks a user id: a non-empty string of at most 64 characters. */
export function checkId(value: unknown, field = 'id'): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, 'is required');
  if (value.length > 64) throw invalid(field, 'must be at most 64 characters');
  return value;
}
