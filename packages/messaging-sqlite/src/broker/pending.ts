import type { DatabaseSync } from 'node:sqlite';
import type { Clock } from '@meshkit/core';
import { compilePatterns } from '@meshkit/messaging';

/** A message a group has not settled, as `SqliteBroker.pending()` lists it. */
export interface PendingMessage {
  /** The broker position (the log's sequence number). */
  readonly position: string;
  readonly topic: string;
  readonly key: string | undefined;
  /** The headers its next delivery carries (a retry's merged headers included). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** When it was published, epoch ms. */
  readonly publishedAt: number;
  /** Deliveries to the group since it was last settled (0 when unread). */
  readonly deliveries: number;
  /** `unread` (past the cursor), `in-flight` (held by a live member), `waiting` (retry, release or key). */
  readonly state: 'unread' | 'in-flight' | 'waiting';
}

interface PendingRow {
  seq: number;
  topic: string;
  key: string | null;
  headers: string;
  body: Uint8Array;
  published_at: number;
  owner?: string | null;
  until?: number;
  deliveries: number;
}

function pendingMessage(row: PendingRow, state: PendingMessage['state']): PendingMessage {
  return {
    position: String(row.seq),
    topic: row.topic,
    key: row.key ?? undefined,
    headers: JSON.parse(row.headers) as Record<string, string>,
    body: row.body,
    publishedAt: row.published_at,
    deliveries: row.deliveries,
    state,
  };
}

/**
 * The messages `group` has not settled, oldest first, at most `limit`, read without claiming them: the
 * leased ones (in flight while a member's lease on them lasts, else waiting), then those past
 * the group's cursor that its bindings match. An unknown group has none.
 */
export function listPending(db: DatabaseSync, group: string, limit: number, clock: Clock): PendingMessage[] {
  const cursor = db.prepare('SELECT cursor FROM groups WHERE name = ?').get(group) as
    | { cursor: number }
    | undefined;
  if (cursor === undefined) return [];
  const bindings = db.prepare('SELECT pattern FROM bindings WHERE grp = ?').all(group) as {
    pattern: string;
  }[];
  const matches = compilePatterns(bindings.map((b) => b.pattern));
  const now = clock.now();
  const out: PendingMessage[] = [];
  const leased = db.prepare(
    `SELECT m.seq, m.topic, m.key, COALESCE(l.headers, m.headers) AS headers, m.body, m.published_at,
            l.owner, l.until, l.deliveries
       FROM leases l JOIN messages m ON m.seq = l.seq WHERE l.grp = ? ORDER BY l.seq LIMIT ?`,
  );
  for (const row of leased.iterate(group, limit) as Iterable<PendingRow>) {
    out.push(pendingMessage(row, row.owner != null && (row.until ?? 0) > now ? 'in-flight' : 'waiting'));
  }
  const unread = db.prepare(
    'SELECT seq, topic, key, headers, body, published_at, 0 AS deliveries FROM messages WHERE seq > ? ORDER BY seq',
  );
  for (const row of unread.iterate(cursor.cursor) as Iterable<PendingRow>) {
    if (out.length >= limit) break;
    if (matches(row.topic)) out.push(pendingMessage(row, 'unread'));
  }
  return out;
}
