/**
 * Coalesces the acks of one channel: instead of one `basic.ack` frame (and one socket write) per
 * delivery, the acks made within one turn of the event loop go out together at its end, as a single
 * `basic.ack` with `multiple` set for the run of deliveries that succeeded without a gap.
 *
 * A multiple ack up to tag T acks every delivery of the channel still outstanding at or below T, so it
 * is only sent while no delivery at or below T is outstanding without a success: one whose handler is
 * still running, or that was left unsettled. Deliveries settled otherwise (nacked, requeued) are no
 * longer outstanding and do not interrupt a run, since their frames went out first. An ack that follows
 * such a barrier goes out on its own, at the same flush, so the broker's prefetch window never waits on
 * a slow delivery.
 *
 * It keeps one entry per outstanding delivery (at most the prefetch), in delivery-tag order.
 */
export class AckCoalescer {
  /** Outstanding deliveries by tag, in tag order: `true` once it succeeded and its ack is not sent yet. */
  readonly #outstanding = new Map<number, boolean>();
  readonly #send: (tag: number, multiple: boolean) => void;
  readonly #schedule: (flush: () => void) => void;
  #scheduled = false;
  readonly #flush = () => this.flush();

  /**
   * @param send writes one `basic.ack` (amqplib's `channel.ack(message, multiple)`); it must not throw.
   * @param schedule runs the flush later in the same turn; defaults to `process.nextTick`, which runs
   *   once the current batch of deliveries and the promise reactions they started are done.
   */
  constructor(
    send: (tag: number, multiple: boolean) => void,
    schedule: (flush: () => void) => void = process.nextTick,
  ) {
    this.#send = send;
    this.#schedule = schedule;
  }

  /** Deliveries outstanding (delivered, neither acked nor settled otherwise). */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  /** A delivery arrived; tags grow on a channel, so the map stays in tag order. */
  delivered(tag: number): void {
    this.#outstanding.set(tag, false);
  }

  /** The delivery succeeded: its ack goes out at the next flush. */
  ack(tag: number): void {
    if (!this.#outstanding.has(tag)) return;
    this.#outstanding.set(tag, true);
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#schedule(this.#flush);
  }

  /** The delivery was settled another way (nack, reject) whose frame the caller sends now. */
  settled(tag: number): void {
    this.#outstanding.delete(tag);
  }

  /** Sends the acks made since the last flush: one multiple ack for the leading run, the rest one each. */
  flush(): void {
    this.#scheduled = false;
    let run = 0;
    let last = 0;
    let barrier = false;
    for (const [tag, succeeded] of this.#outstanding) {
      if (!succeeded) {
        if (!barrier && run > 0) this.#send(last, run > 1);
        barrier = true;
        continue;
      }
      this.#outstanding.delete(tag);
      if (barrier) {
        this.#send(tag, false);
      } else {
        run++;
        last = tag;
      }
    }
    if (!barrier && run > 0) this.#send(last, run > 1);
  }

  /** Forgets everything (the channel is gone: the broker gives its deliveries back). */
  clear(): void {
    this.#outstanding.clear();
  }
}
