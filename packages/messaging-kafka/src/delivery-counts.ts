/**
 * What one group member knows about how often it handed a record out. Kafka keeps no delivery count:
 * a record is "delivered again" when a member fetches it from the committed offset after the member that
 * had it lost its partitions (crash, rebalance past the drain, lost consumer). This member can count only
 * its own hand-outs, so the count it reports is:
 *
 * - `n ≥ 2` for a record it handed out `n − 1` times before without the record being committed (its
 *   consumer was lost and reopened, or its wildcard subscription rejoined): at least `n`, exactly `n`
 *   when no other member held the partition in between;
 * - `1` for a record first handed out here whose offset is at or above the partition's end offset at
 *   the moment this member was given the partition: published after that, no other member of the group
 *   could have had it;
 * - `undefined` for a record first handed out here that was already in the partition when this member
 *   got it: a previous owner may or may not have handed it out.
 *
 * Counts are kept per `topic:partition` for the partitions this member owns, pruned below each commit,
 * and forgotten when the partition goes to another member.
 */
export class DeliveryCounts {
  readonly #partitions = new Map<string, PartitionCounts>();

  /** Records a hand-out of `offset`; returns the delivery count to report (see the class). */
  handOut(partition: string, offset: bigint): number | undefined {
    const p = this.#entry(partition);
    const before = p.counts.get(offset);
    const count = (before ?? 0) + 1;
    p.counts.set(offset, count);
    if (before !== undefined) return count;
    return p.firstFrom !== undefined && offset >= p.firstFrom ? 1 : undefined;
  }

  /** The record was given back unprocessed (release): that hand-out does not count. */
  released(partition: string, offset: bigint): void {
    const p = this.#partitions.get(partition);
    const count = p?.counts.get(offset);
    if (p === undefined || count === undefined) return;
    if (count <= 1) p.counts.delete(offset);
    else p.counts.set(offset, count - 1);
  }

  /** Everything below `point` is committed (settled for the group): forget it. */
  committed(partition: string, point: bigint): void {
    const p = this.#partitions.get(partition);
    if (p === undefined) return;
    for (const offset of p.counts.keys()) if (offset < point) p.counts.delete(offset);
  }

  /**
   * The member was given `partition` (it did not own it just before). Returns a token for
   * {@link endOffsetAt}; until that is known, first hand-outs report `undefined`.
   */
  assigned(partition: string): number {
    const p = this.#entry(partition);
    p.firstFrom = undefined;
    p.ownership++;
    return p.ownership;
  }

  /** The partition's end offset when it was given to this member (ignored if it changed hands since). */
  endOffsetAt(partition: string, token: number, end: bigint): void {
    const p = this.#partitions.get(partition);
    if (p !== undefined && p.ownership === token) p.firstFrom = end;
  }

  /** The partition went to another member: what this member counted no longer tells the whole story. */
  revoked(partition: string): void {
    this.#partitions.delete(partition);
  }

  /**
   * The member's consumer was lost: other members may take its partitions while it is away, so a record
   * first fetched after it comes back is no longer known to be a first delivery. Its own counts stay.
   */
  lost(): void {
    for (const p of this.#partitions.values()) {
      p.firstFrom = undefined;
      p.ownership++;
    }
  }

  #entry(partition: string): PartitionCounts {
    let p = this.#partitions.get(partition);
    if (p === undefined) {
      p = { counts: new Map(), firstFrom: undefined, ownership: 0 };
      this.#partitions.set(partition, p);
    }
    return p;
  }
}

interface PartitionCounts {
  /** Offset → hand-outs by this member not followed by a commit past it. */
  readonly counts: Map<bigint, number>;
  /** Offsets from here on were published after this member took the partition. */
  firstFrom: bigint | undefined;
  /** Incremented on each new ownership, so a late end-offset answer for an older one is ignored. */
  ownership: number;
}
