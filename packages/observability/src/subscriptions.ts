import type { TypedChannel } from '@meshkit/core';

/**
 * The listeners one subscriber registered, so `close()` removes every one of them and leaves the
 * channels as it found them (no subscribers: the publishers go back to one property read per event).
 */
export class Subscriptions {
  readonly #undo: (() => void)[] = [];

  /** Subscribes `listener` to `channel` until {@link close}. */
  on<T>(channel: TypedChannel<T>, listener: (message: T) => void): void {
    channel.subscribe(listener);
    this.#undo.push(() => channel.unsubscribe(listener));
  }

  /** Removes every listener; calling it again does nothing. */
  close(): void {
    for (const undo of this.#undo.splice(0)) undo();
  }
}
