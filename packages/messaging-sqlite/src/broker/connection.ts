import type { Clock, TimerHandle } from '@meshkit/core';
import type { SubscribeOptions } from '@meshkit/messaging';
import type { GroupCommit } from '../group-commit.ts';
import type { Statements } from '../statements.ts';

/**
 * What the parts of one broker connection share: the database statements, the group commit every write
 * goes through, the clock, and the members (subscriptions) of this connection. The parts are the claims
 * (handing messages out), the settlements (recording outcomes), the wake-ups (noticing there is work)
 * and the deliveries themselves.
 */
export interface Connection {
  readonly path: string;
  readonly sql: Statements;
  readonly writer: GroupCommit;
  readonly clock: Clock;
  /** How long a member holds a delivery before it is presumed dead, ms. */
  readonly visibilityMs: number;
  readonly members: Set<Member>;
  closed: boolean;
  /** The transaction being built may give other processes work: signal them after its commit. */
  signalPending: boolean;
}

/** One subscription of this connection: a member of a group. */
export interface Member {
  readonly id: string;
  readonly group: string;
  readonly options: SubscribeOptions;
  /** Sequence numbers delivered to this member and not yet settled. */
  readonly holding: Set<number>;
  /** Its own leases whose settlement failed for good: not renewed, and claimable again once expired. */
  readonly forgotten: Set<number>;
  active: boolean;
  fetching: boolean;
  /** Something may be claimable; cleared when a claim comes back short with no wake-up in between. */
  maybeMore: boolean;
  wakes: number;
  dueTimer: TimerHandle | undefined;
}

/**
 * A claimed message. Built from the statements' array rows into one object shape: the objects
 * `node:sqlite` makes per row have dictionary properties, slow to read for every delivery.
 */
export interface Row {
  readonly seq: number;
  readonly topic: string;
  readonly key: string | null;
  readonly headers: string;
  readonly body: Uint8Array;
  readonly deliveries: number;
  /** Headers a retry merged in, replacing `headers`. */
  readonly override: string | null;
}
