/**
 * The idempotent consumer (inbox): a handler wrapper that records each processed event id in the
 * consumer's own database in the same transaction as the handler's effects, so a redelivered event
 * (at-least-once delivery, a re-published outbox row) finds its id and has no second effect. Stores
 * for SQLite and PostgreSQL implement it in their packages; this is the shape they share.
 */
import type { CallContext, Service } from '@meshkit/core';
import type { Message } from './consumer.ts';

/** What an inbox does for a handler whose effects run inside transaction `Tx`. */
export interface Inbox<Tx> {
  /**
   * Wraps `effect` into a message handler: begin; record the event id (skip everything if it is
   * already recorded); run `effect` with the transaction; commit. A failing effect rolls back its id
   * too, so the retry runs it again.
   */
  handler<T>(effect: (msg: Message<T>, tx: Tx, ctx: CallContext) => unknown): Service<Message<T>, void>;
  /** Deletes ids recorded more than `olderThanMs` ago; resolves with how many went. */
  prune(olderThanMs: number): Promise<number>;
}
