/**
 * The offsets of one assigned partition that were handed out and not yet committed, and the commit
 * point they allow: Kafka commits one offset per partition ("everything below is done"), so a record
 * settled above a gap waits until the gap is settled. Offsets are handed out in increasing order.
 */
export class PartitionOffsets {
  readonly topic: string;
  readonly partition: number;
  /** `topic:partition`. */
  readonly key: string;
  /** Offsets handed out, in order, with whether each is settled. */
  #pending: { offset: bigint; settled: boolean }[] = [];
  #head = 0;
  /** The next offset expected from the fetcher; anything below was already seen. */
  #next: bigint;
  /** The last offset committed (or the position the partition was assigned at). */
  #committed: bigint;
  /** Leader epoch of the last record taken, sent with commits (-1: unknown). */
  leaderEpoch = -1;
  /** Set when the member gave the partition up: settling its records commits nothing. */
  revoked = false;

  constructor(topic: string, partition: number, start: bigint) {
    this.topic = topic;
    this.partition = partition;
    this.key = `${topic}:${partition}`;
    this.#next = start;
    this.#committed = start;
  }

  /** Records handed out and not yet settled. */
  get unsettled(): number {
    let n = 0;
    for (let i = this.#head; i < this.#pending.length; i++) if (!this.#pending[i]!.settled) n++;
    return n;
  }

  /** The commit point last recorded by {@link committedTo}. */
  get committed(): bigint {
    return this.#committed;
  }

  /**
   * Takes an offset from the fetcher. Returns `false` for one already seen (a refetch after a
   * rebalance that kept this partition), which must not be handed out again.
   */
  take(offset: bigint): boolean {
    if (offset < this.#next) return false;
    this.#next = offset + 1n;
    this.#pending.push({ offset, settled: false });
    return true;
  }

  /** Marks an offset settled. */
  settle(offset: bigint): void {
    // Offsets are increasing: binary search between the head and the end.
    let lo = this.#head;
    let hi = this.#pending.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const entry = this.#pending[mid]!;
      if (entry.offset === offset) {
        entry.settled = true;
        return;
      }
      if (entry.offset < offset) lo = mid + 1;
      else hi = mid - 1;
    }
  }

  /** The offset to commit now (first unsettled, or past the last settled), or `undefined` if unchanged. */
  commitPoint(): bigint | undefined {
    let i = this.#head;
    while (i < this.#pending.length && this.#pending[i]!.settled) i++;
    const point = i < this.#pending.length ? this.#pending[i]!.offset : this.#next;
    return point > this.#committed ? point : undefined;
  }

  /** Records that `point` was committed: forgets the settled offsets below it. */
  committedTo(point: bigint): void {
    if (point <= this.#committed) return;
    this.#committed = point;
    while (this.#head < this.#pending.length && this.#pending[this.#head]!.offset < point) this.#head++;
    if (this.#head > 1_024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
  }
}
