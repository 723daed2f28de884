import { randomUUID } from 'node:crypto';
import { type Clock, InvalidArgumentError, systemClock, type TimerHandle } from '@meshkit/core';
import { checkInteger, checkString } from '@meshkit/core/internal';
import { messagingChannels } from './channels.ts';
import type { Outgoing, Publisher } from './publisher.ts';

/**
 * The transactional outbox: services write their business rows and the events describing them in one
 * database transaction (so an event exists if and only if the change does), and a relay publishes the
 * pending events in order, waits for the broker's confirms and only then marks them sent. A crash
 * between confirm and mark re-publishes on restart with the same event id, which the consumer's
 * idempotent inbox absorbs. Stores for SQLite (`@meshkit/messaging-sqlite`) and PostgreSQL
 * (`@meshkit/messaging-postgres`) implement {@link OutboxStore}.
 */

/** An event as written to the outbox. */
export interface OutboxEvent {
  readonly topic: string;
  readonly data: unknown;
  readonly key?: string | undefined;
  /** CloudEvents id; defaults to a fresh UUID when written. */
  readonly id?: string | undefined;
  readonly type?: string | undefined;
  readonly subject?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** A pending outbox row, as the relay reads it. */
export interface OutboxEntry {
  /** The row's position; the relay publishes in this order. */
  readonly seq: string;
  readonly id: string;
  readonly topic: string;
  readonly key: string | undefined;
  readonly type: string | undefined;
  readonly subject: string | undefined;
  /** When the event was written (RFC 3339): its CloudEvents `time`. */
  readonly time: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly data: unknown;
  /** Publish attempts so far that the broker refused. */
  readonly attempts: number;
}

/** What the relay needs from a database. */
export interface OutboxStore {
  /**
   * Takes or extends the relay lease named by the store (one active relay per database): succeeds
   * when the lease is free, expired, or already held by `owner`. Times are epoch milliseconds.
   */
  acquireLease(owner: string, now: number, until: number): Promise<boolean>;
  /** Gives the lease up if `owner` holds it. */
  releaseLease(owner: string): Promise<void>;
  /** Up to `limit` unsent, not given-up rows in write order. */
  pending(limit: number): Promise<OutboxEntry[]>;
  /** Marks rows as sent (confirmed by the broker). */
  markSent(seqs: readonly string[], at: number): Promise<void>;
  /** Records a refused publish; with `giveUp` the row is parked (never retried) with its error. */
  markFailed(seq: string, attempts: number, error: string, giveUp: boolean): Promise<void>;
}

/** Builds the row an outbox store writes for `event` (fills in the id). */
export function outboxRecord(event: OutboxEvent): OutboxEvent & { readonly id: string } {
  checkString('event.topic', event.topic);
  return { ...event, id: event.id ?? randomUUID() };
}

/**
 * The column values every outbox store inserts for `event`, in the order
 * `(id, topic, key, type, subject, time, headers, data)`: `time` is `nowMs` as ISO 8601, `headers` and
 * `data` are JSON text. Throws when `data` is not JSON-serialisable.
 */
export function outboxRow(
  event: OutboxEvent,
  nowMs: number,
): readonly [string, string, string | null, string | null, string | null, string, string, string] {
  const record = outboxRecord(event);
  const data = JSON.stringify(record.data);
  if (data === undefined) throw new InvalidArgumentError('event.data', 'must be JSON-serialisable');
  return [
    record.id,
    record.topic,
    record.key ?? null,
    record.type ?? null,
    record.subject ?? null,
    new Date(nowMs).toISOString(),
    JSON.stringify(record.headers ?? {}),
    data,
  ];
}

/** Options of {@link outboxRelay}. */
export interface OutboxRelayOptions {
  /** This relay's identity in the lease. Defaults to a random UUID. */
  readonly owner?: string;
  /** Rows read and published per round. Defaults to 500. */
  readonly batchSize?: number;
  /** How often an idle relay looks for new rows, ms (a `nudge()` wakes it at once). Defaults to 100. */
  readonly pollIntervalMs?: number;
  /** Lease length, ms; renewed every round, taken over by another relay once expired. Defaults to 10,000. */
  readonly leaseMs?: number;
  /** Refused publishes of one row before it is parked as failed. Defaults to 10. */
  readonly maxAttempts?: number;
  /** Clock for the lease and the waits. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** A running relay. */
export interface OutboxRelay {
  /** Starts the loop (idempotent). */
  start(): void;
  /** Wakes an idle relay now (call after committing a transaction that wrote events). */
  nudge(): void;
  /** One round: take the lease, publish one batch, mark it; resolves with the rows marked sent. */
  runOnce(): Promise<number>;
  /** Stops after the current round and releases the lease. */
  stop(): Promise<void>;
  /** `true` while this relay holds the lease. */
  readonly active: boolean;
}

/**
 * Creates a relay from an outbox store to a publisher.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from 'node:sqlite';
 * import { sqliteBroker, sqliteOutbox } from '@meshkit/messaging-sqlite';
 * const db = new DatabaseSync('var/users.db');
 * const broker = sqliteBroker({ path: 'var/events.db' });
 * const relay = outboxRelay(sqliteOutbox(db), publisher(broker, { source: '/user-service' }));
 * relay.start();
 * ```
 */
export function outboxRelay(
  store: OutboxStore,
  events: Publisher,
  options: OutboxRelayOptions = {},
): OutboxRelay {
  const owner = checkString('outboxRelay.owner', options.owner ?? randomUUID());
  const batchSize = checkInteger('outboxRelay.batchSize', options.batchSize ?? 500, 1);
  const pollIntervalMs = checkInteger('outboxRelay.pollIntervalMs', options.pollIntervalMs ?? 100, 1);
  const leaseMs = checkInteger('outboxRelay.leaseMs', options.leaseMs ?? 10_000, 2);
  const maxAttempts = checkInteger('outboxRelay.maxAttempts', options.maxAttempts ?? 10, 1);
  const clock = options.clock ?? systemClock;

  let active = false;
  let running: Promise<void> | undefined;
  let stopping = false;
  let wake: (() => void) | undefined;
  let nudged = false;

  const runOnce = async (): Promise<number> => {
    const now = clock.now();
    active = await store.acquireLease(owner, now, now + leaseMs);
    if (!active) return 0;
    const rows = await store.pending(batchSize);
    if (messagingChannels.outboxBacklog.hasSubscribers) {
      const oldest = rows[0] === undefined ? Number.NaN : Date.parse(rows[0].time);
      messagingChannels.outboxBacklog.publish({
        owner,
        pending: rows.length,
        oldestAgeMs: Number.isNaN(oldest) ? 0 : Math.max(0, clock.now() - oldest),
      });
    }
    if (rows.length === 0) return 0;
    const outgoing: Outgoing[] = rows.map((r) => ({
      topic: r.topic,
      data: r.data,
      key: r.key,
      id: r.id,
      type: r.type,
      subject: r.subject,
      time: r.time,
      headers: r.headers,
    }));
    const outcomes = await events.publishBatch(outgoing);
    const sent: string[] = [];
    for (let i = 0; i < rows.length; i++) {
      const outcome = outcomes[i]!;
      const row = rows[i]!;
      if (outcome.ok) {
        sent.push(row.seq);
        continue;
      }
      const attempts = row.attempts + 1;
      await store.markFailed(row.seq, attempts, outcome.error.message, attempts >= maxAttempts);
    }
    if (sent.length > 0) await store.markSent(sent, clock.now());
    if (sent.length < rows.length) throw new Error(`${rows.length - sent.length} outbox events were refused`);
    return sent.length;
  };

  const idle = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      if (nudged || stopping) {
        nudged = false;
        resolve();
        return;
      }
      let timer: TimerHandle | undefined;
      wake = () => {
        wake = undefined;
        if (timer !== undefined) clock.clearTimeout(timer);
        resolve();
      };
      timer = clock.setTimeout(() => wake?.(), ms);
    });

  const loop = async (): Promise<void> => {
    let failures = 0;
    while (!stopping) {
      try {
        const sent = await runOnce();
        failures = 0;
        // A full batch means more may be waiting: go again at once.
        if (sent < batchSize) await idle(active ? pollIntervalMs : Math.floor(leaseMs / 2));
      } catch (error) {
        failures++;
        if (messagingChannels.outboxRelayFailed.hasSubscribers) {
          messagingChannels.outboxRelayFailed.publish({ owner, error });
        }
        // Store or broker trouble: back off (up to 5 s) instead of spinning.
        await idle(Math.min(5_000, pollIntervalMs * 2 ** Math.min(failures, 10)));
      }
    }
  };

  return {
    start() {
      if (running !== undefined) return;
      stopping = false;
      running = loop();
    },
    nudge() {
      nudged = true;
      wake?.();
    },
    runOnce,
    async stop() {
      stopping = true;
      wake?.();
      await running;
      running = undefined;
      if (active) await store.releaseLease(owner).catch(() => {});
      active = false;
    },
    get active() {
      return active;
    },
  };
}
