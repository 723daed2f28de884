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
 *
 * A member reads a partition in increasing offsets and reads it again only from an earlier position
 * (after a reopen), so hand-outs are kept as runs of offsets (one run per read, `first`…`last`), not per
 * offset: a record's earlier hand-outs are the earlier runs that cover it. Nothing is kept per record on
 * the common path.
 */
export class DeliveryCounts {
  readonly #partitions = new Map<string, PartitionCounts>();

  /** Records a hand-out of `offset`; returns the delivery count to report (see the class). */
  handOut(partition: string, offset: bigint): number | undefined {
    const p = this.#entry(partition);
    const runs = p.runs;
    const current = runs.length === 0 ? undefined : runs[runs.length - 1]!;
    if (current === undefined || offset <= current.last) runs.push({ first: offset, last: offset });
    else current.last = offset;
    let before = 0;
    for (let i = 0; i < runs.length - 1; i++) {
      const run = runs[i]!;
      if (run.first <= offset && offset <= run.last) before++;
    }
    if (p.released.size > 0) before -= p.released.get(offset) ?? 0;
    if (before > 0) return before + 1;
    return p.firstFrom !== undefined && offset >= p.firstFrom ? 1 : undefined;
  }

  /** The record was given back unprocessed (release): that hand-out does not count. */
  released(partition: string, offset: bigint): void {
    const p = this.#partitions.get(partition);
    if (p === undefined) return;
    p.released.set(offset, (p.released.get(offset) ?? 0) + 1);
  }

  /** Everything below `point` is committed (settled for the group): forget it. */
  committed(partition: string, point: bigint): void {
    const p = this.#partitions.get(partition);
    if (p === undefined) return;
    let kept = 0;
    for (const run of p.runs) {
      if (run.last < point) continue;
      if (run.first < point) run.first = point;
      p.runs[kept++] = run;
    }
    p.runs.length = kept;
    if (p.released.size > 0)
      for (const offset of p.released.keys()) if (offset < point) p.released.delete(offset);
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
      p = { runs: [], released: new Map(), firstFrom: undefined, ownership: 0 };
      this.#partitions.set(partition, p);
    }
    return p;
  }
}

interface PartitionCounts {
  /** Runs of offsets handed out by this member and not yet committed, oldest first. */
  readonly runs: { first: bigint; last: bigint }[];
  /** Offset → hand-outs given back unprocessed (not counted), until a commit passes it. */
  readonly released: Map<bigint, number>;
  /** Offsets from here on were published after this member took the partition. */
  firstFrom: bigint | undefined;
  /** Incremented on each new ownership, so a late end-offset answer for an older one is ignored. */
  ownership: number;
}
