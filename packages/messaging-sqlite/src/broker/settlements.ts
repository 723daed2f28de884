import type { DeadLetterRequest, RetryRequest } from '@meshkit/messaging';
import type { Durability } from '../group-commit.ts';
import type { Connection, Member, Row } from './connection.ts';
import type { WakeUps } from './wake-ups.ts';

interface Settle {
  /** A statement to run, or the sequence number to ack (batched). */
  readonly run: (() => void) | number;
  /** The acked message's key, whose next blocked message becomes due. */
  readonly key: string | null;
  readonly seq: number;
  readonly member: Member;
  attempts: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Shortest run of consecutive acked sequence numbers deleted as a range rather than listed. */
const minAckRange = 8;

/**
 * Recording outcomes: ack, retry later, dead-letter and release. All settlements of a turn share one
 * operation of the group commit, and the acks among them become one statement per member. A settlement
 * that cannot be recorded is tried a few more times, then given up: its lease, no longer renewed,
 * expires and the message is delivered again.
 */
export class Settlements {
  readonly #conn: Connection;
  readonly #durability: Durability;
  readonly #wakeUps: WakeUps;
  /** Credit is back: the member may claim more. */
  readonly #claim: (member: Member) => void;
  #queue: Settle[] = [];
  #queued = false;

  constructor(conn: Connection, durability: Durability, wakeUps: WakeUps, claim: (member: Member) => void) {
    this.#conn = conn;
    this.#durability = durability;
    this.#wakeUps = wakeUps;
    this.#claim = claim;
  }

  ack(member: Member, seq: number, key: string | null): Promise<void> {
    return this.settle(seq, member, seq, key);
  }

  retryLater(member: Member, seq: number, headers: string, request: RetryRequest): Promise<void> {
    const merged = JSON.stringify({ ...JSON.parse(headers), ...request.headers });
    const due = this.#conn.clock.now() + request.delayMs;
    return this.settle(
      () => this.#conn.sql.retry.run(due, merged, member.group, seq, member.id),
      member,
      seq,
    ).then(() => this.#wakeUps.wakeAt(member.group, due));
  }

  release(member: Member, seq: number): Promise<void> {
    return this.settle(
      () => this.#conn.sql.release.run(this.#conn.clock.now(), member.group, seq, member.id),
      member,
      seq,
    ).then(() => this.#wakeUps.wakeLocal(member.group));
  }

  /** Moves the message to the dead-letter topic and settles it, in one transaction. */
  deadLetter(member: Member, row: Row, headers: string, request: DeadLetterRequest): Promise<void> {
    const merged = JSON.stringify({ ...JSON.parse(headers), ...request.headers });
    const sql = this.#conn.sql;
    return this.settle(
      () => {
        const { changes } = sql.ack.run(member.group, row.seq, member.id);
        if (changes === 0) return; // lease lost: another member has the message now
        const now = this.#conn.clock.now();
        if (row.key !== null) sql.unblock.run(member.group, row.key, now);
        const { lastInsertRowid } = sql.insertMessage.run(request.topic, row.key, merged, row.body, now);
        // Dead letters are kept in a group named after their topic until someone reads them.
        sql.ensureGroupAt.run(request.topic, Number(lastInsertRowid) - 1);
        sql.ensureBinding.run(request.topic, request.topic);
      },
      member,
      row.seq,
    ).then(() => this.#wakeUps.wakeLocal(undefined));
  }

  /** Queues a settlement: a statement to run, or the sequence number to ack. */
  settle(run: (() => void) | number, member: Member, seq: number, key: string | null = null): Promise<void> {
    member.holding.delete(seq);
    const done = new Promise<void>((resolve, reject) =>
      this.#enqueue({ run, key, seq, member, resolve, reject, attempts: 0 }),
    );
    // Credit is back: claim more if more may be waiting.
    this.#claim(member);
    return done;
  }

  #enqueue(settle: Settle): void {
    this.#queue.push(settle);
    if (this.#queued) return;
    this.#queued = true;
    this.#submit();
  }

  #submit(): void {
    const conn = this.#conn;
    let batch: Settle[] = [];
    const unblocked = new Set<string>();
    conn.writer
      .submit(() => {
        this.#queued = false;
        batch = this.#queue;
        this.#queue = [];
        const acks = new Map<Member, number[]>();
        for (const s of batch) {
          if (typeof s.run !== 'number') {
            // Retries, releases and dead letters give work to someone, maybe in another process.
            conn.signalPending = true;
            s.run();
          } else {
            const seqs = acks.get(s.member);
            if (seqs === undefined) acks.set(s.member, [s.run]);
            else seqs.push(s.run);
          }
        }
        for (const [m, seqs] of acks) this.#ack(m, seqs);
        const now = conn.clock.now();
        for (const s of batch) {
          if (typeof s.run === 'number' && s.key !== null) {
            if (conn.sql.unblock.run(s.member.group, s.key, now).changes > 0) {
              unblocked.add(s.member.group);
              conn.signalPending = true;
            }
          }
        }
      }, this.#durability)
      .then(
        () => {
          for (const s of batch) s.resolve();
          for (const group of unblocked) this.#wakeUps.wakeLocal(group);
        },
        (error: Error) => {
          if (batch.length === 0) {
            // The transaction never started: what was waiting for it failed with it.
            this.#queued = false;
            batch = this.#queue;
            this.#queue = [];
          }
          for (const s of batch) {
            // Try a few more times; then give up: the lease, no longer renewed, expires and the message
            // is delivered again (to any member, this one included).
            if (s.attempts >= 3 || conn.closed) {
              s.reject(error);
              s.member.forgotten.add(s.seq);
              this.#wakeUps.scheduleDue(s.member);
              continue;
            }
            s.attempts++;
            setTimeout(
              () => (conn.closed ? s.reject(error) : this.#enqueue(s)),
              20 * 2 ** s.attempts,
            ).unref();
          }
        },
      );
  }

  /**
   * Deletes the member's leases of `seqs` (each acked once, so no duplicates): runs of consecutive
   * numbers as ranges (every number of a run is in `seqs`, so exactly those leases go), the rest as one
   * list.
   */
  #ack(member: Member, seqs: number[]): void {
    const sql = this.#conn.sql;
    seqs.sort((a, b) => a - b);
    const rest: number[] = [];
    let start = 0;
    for (let i = 1; i <= seqs.length; i++) {
      if (i < seqs.length && seqs[i] === seqs[i - 1]! + 1) continue;
      if (i - start >= minAckRange) sql.ackRange.run(member.group, member.id, seqs[start]!, seqs[i - 1]!);
      else for (let j = start; j < i; j++) rest.push(seqs[j]!);
      start = i;
    }
    if (rest.length > 0) sql.ackMany.run(member.group, member.id, JSON.stringify(rest));
  }
}
