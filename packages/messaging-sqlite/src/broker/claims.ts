import { compilePatterns, type TopicMatcher } from '@meshkit/messaging';
import { blockedUntil } from '../schema.ts';
import type { Connection, Member, Row } from './connection.ts';
import { SqliteDelivery } from './delivery.ts';
import type { Settlements } from './settlements.ts';
import type { WakeUps } from './wake-ups.ts';

/** A row of `scan` ([seq, topic, key, headers, body]), delivered for the first time. */
function newRow(a: unknown[]): Row {
  return {
    seq: a[0] as number,
    topic: a[1] as string,
    key: a[2] as string | null,
    headers: a[3] as string,
    body: a[4] as Uint8Array,
    deliveries: 1,
    override: null,
  };
}

/** A row of `dueLeases` ([seq, deliveries, override, topic, key, headers, body]), delivered once more. */
function dueRow(a: unknown[]): Row {
  return {
    seq: a[0] as number,
    topic: a[3] as string,
    key: a[4] as string | null,
    headers: a[5] as string,
    body: a[6] as Uint8Array,
    deliveries: (a[1] as number) + 1,
    override: a[2] as string | null,
  };
}

/**
 * Handing messages out: a member with credit (prefetch minus what it holds) claims in one transaction
 * the leases that are due (retries, releases, dead members' messages), then new messages of its group
 * past the group's cursor, keeping a key at one member at a time; each claimed message is delivered.
 */
export class Claims {
  readonly #conn: Connection;
  readonly #settlements: Settlements;
  readonly #wakeUps: WakeUps;
  readonly #matchers = new Map<string, { key: string; match: TopicMatcher }>();

  constructor(conn: Connection, wakeUps: WakeUps, settlements: Settlements) {
    this.#conn = conn;
    this.#wakeUps = wakeUps;
    this.#settlements = settlements;
  }

  /** Claims for `member` if it has credit and something may be waiting; delivers what it got. */
  fetch(member: Member): void {
    const conn = this.#conn;
    if (!member.active || member.fetching || conn.closed || !member.maybeMore) return;
    const credit = member.options.prefetch - member.holding.size;
    // Refill in batches (from half empty) rather than one claim per settled message: a claim is a
    // write transaction, and a stream of tiny ones costs more than the messages they carry.
    if (credit <= 0 || (member.holding.size > 0 && credit < Math.ceil(member.options.prefetch / 2))) return;
    member.fetching = true;
    let wakesAtStart = 0;
    conn.writer
      .submit(() => {
        wakesAtStart = member.wakes;
        return this.#claim(member, credit);
      })
      .then(
        (rows) => {
          member.fetching = false;
          // Closed meanwhile: close() released these leases in the same commit.
          if (conn.closed) return;
          if (rows.length < credit && member.wakes === wakesAtStart) {
            member.maybeMore = false;
            this.#wakeUps.scheduleDue(member);
          }
          const settlements = this.#settlements;
          for (const row of rows) {
            member.holding.add(row.seq);
            member.forgotten.delete(row.seq);
            if (!member.active) {
              // Stopped while claiming: hand the message back untouched.
              settlements
                .settle(
                  () => conn.sql.release.run(conn.clock.now(), member.group, row.seq, member.id),
                  member,
                  row.seq,
                )
                .catch(() => {});
              continue;
            }
            member.options.onDelivery(new SqliteDelivery(settlements, member, row));
          }
          this.fetch(member);
        },
        () => {
          member.fetching = false;
          // A failed claim (lock held too long, I/O error): try again shortly rather than spin.
          if (!conn.closed) this.#wakeUps.armDue(member, conn.clock.now() + 10);
        },
      );
  }

  /** Runs inside a transaction: takes due leases first (retries, releases, dead members), then new messages. */
  #claim(member: Member, limit: number): Row[] {
    const sql = this.#conn.sql;
    const now = this.#conn.clock.now();
    const until = now + this.#conn.visibilityMs;
    // A live member never takes back its own expired lease (it still holds that message), except the
    // ones it gave up on.
    const due = sql.dueLeases.all(
      member.group,
      now,
      member.id,
      JSON.stringify([...member.forgotten]),
      limit,
    ) as unknown as unknown[][];
    const rows = due.map(dueRow);
    for (const row of rows) sql.takeLease.run(member.id, until, member.group, row.seq);
    if (rows.length >= limit) return rows;
    const matches = this.#matcher(member.group);
    let cursor = Number((sql.cursorOf.get(member.group) as { cursor: number } | undefined)?.cursor ?? 0);
    const start = cursor;
    let scanned = 0;
    const claimed: number[] = [];
    const claimedKeyed: [number, string][] = [];
    const blocked: [number, string][] = [];
    // Keys this claim took ('mine') or had to block (the lease rows are inserted at the end).
    const keysHere = new Map<string, 'mine' | 'blocked'>();
    while (rows.length < limit && scanned < 10_000) {
      const need = limit - rows.length;
      const batch = sql.scan.all(cursor, need) as unknown as unknown[][];
      for (const cells of batch) {
        cursor = cells[0] as number;
        if (!matches(cells[1] as string)) continue;
        const row = newRow(cells);
        const key = row.key;
        if (key !== null) {
          let state = keysHere.get(key);
          if (state === undefined) {
            const h = sql.keyHolders.get(member.group, key, member.id) as { n: number; mine: number };
            // Free, or held only by this member (whose key scheduler keeps them in order): take it.
            state = h.n === h.mine ? 'mine' : 'blocked';
            keysHere.set(key, state);
          }
          if (state === 'blocked') {
            // Another member holds this key, or one of its messages waits: queue behind it.
            blocked.push([row.seq, key]);
            continue;
          }
        }
        if (key === null) claimed.push(row.seq);
        else claimedKeyed.push([row.seq, key]);
        rows.push(row);
      }
      scanned += batch.length;
      if (batch.length < need) break;
    }
    if (claimed.length > 0) sql.insertLeases.run(member.group, member.id, until, 1, JSON.stringify(claimed));
    if (claimedKeyed.length > 0) {
      sql.insertKeyedLeases.run(member.group, member.id, until, 1, JSON.stringify(claimedKeyed));
    }
    if (blocked.length > 0) {
      sql.insertKeyedLeases.run(member.group, null, blockedUntil, 0, JSON.stringify(blocked));
    }
    if (cursor !== start) sql.setCursor.run(cursor, member.group);
    return rows;
  }

  #matcher(group: string): TopicMatcher {
    const patterns = (this.#conn.sql.bindingsOf.all(group) as { pattern: string }[]).map((r) => r.pattern);
    const key = patterns.join('\n');
    const cached = this.#matchers.get(group);
    if (cached !== undefined && cached.key === key) return cached.match;
    const match = compilePatterns(patterns);
    this.#matchers.set(group, { key, match });
    return match;
  }
}
