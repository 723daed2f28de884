import { randomBytes } from 'node:crypto';

/** The statuses a stored user may have: the proto's `UserStatus` without `UNKNOWN`. */
export const userStatuses = ['ACTIVE', 'INACTIVE', 'SUSPENDED'] as const;

/** A user's status by its proto enum name. */
export type UserStatusName = (typeof userStatuses)[number];

/** A user as stored and returned by the domain. Times are epoch milliseconds. */
export interface User {
  /** A UUIDv7: time-ordered, so listing by id lists by creation. */
  readonly id: string;
  /** Lower-cased; unique. */
  readonly email: string;
  readonly name: string;
  readonly status: UserStatusName;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/**
 * A UUIDv7 (RFC 9562) for `nowMs`: 48 bits of milliseconds, then random bits. Ids sort by creation time
 * (ties within a millisecond in random order), which keyset pagination relies on.
 */
export function newUserId(nowMs: number): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(Math.max(0, Math.floor(nowMs)), 0, 6);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
