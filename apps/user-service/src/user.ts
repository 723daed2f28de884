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

let lastMs = -1;
let sequence = 0;

/**
 * A UUIDv7 (RFC 9562) for `nowMs`: 48 bits of milliseconds, a 12-bit sequence, then random bits. Ids
 * sort by creation time; within one millisecond the sequence (method 1 of the RFC: it starts at a random
 * value below 2048 and counts up, moving to the next millisecond on overflow) keeps the ids of one
 * process in creation order too. Ids made by two processes in the same millisecond sort in any order.
 */
export function newUserId(nowMs: number): string {
  const ms = Math.max(0, Math.floor(nowMs));
  if (ms > lastMs) {
    lastMs = ms;
    sequence = randomBytes(2).readUInt16BE(0) & 0x7ff;
  } else if (++sequence > 0xfff) {
    lastMs += 1;
    sequence = 0;
  }
  const bytes = randomBytes(16);
  bytes.writeUIntBE(lastMs, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
