/**
 * The idempotent consumer (inbox): a handler wrapper that records each processed event id in the
 * consumer's own database in the same transaction as the handler's effects, so a redelivered event
 * (at-least-once delivery, a re-published outbox row) finds its id and has no second effect. Stores
 * for SQLite and PostgreSQL implement it in their packages; this is the shape they share.
 */
import { type CallContext, contextKey, ErrorCode, type Layer, MeshError, type Service } from '@meshkit/core';
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

/** The context slot where {@link inboxLayer} puts the open transaction for the handler below it. */
export const inboxTransaction = contextKey<unknown>('meshkit.inbox.transaction');

/**
 * The inbox as a {@link Layer}, so it composes with `stack()` and the shared policies: the wrapped
 * handler runs inside the inbox transaction and reads it with {@link inboxTx}.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from 'node:sqlite';
 * import { stack } from '@meshkit/core';
 * import { sqliteInbox } from '@meshkit/messaging-sqlite';
 * import { timeout } from '@meshkit/policies';
 * const db = new DatabaseSync('var/mails.db');
 * const handler = stack<Message<{ id: string }>, void>(
 *   inboxLayer(sqliteInbox(db, { consumer: 'mails' })),
 *   timeout({ timeoutMs: 5_000 }),
 * ).wrap(async (msg, ctx) => {
 *   inboxTx<DatabaseSync>(ctx).prepare('INSERT INTO mails (user_id) VALUES (?)').run(msg.data.id);
 * });
 * ```
 */
export function inboxLayer<Tx, T = unknown>(inbox: Inbox<Tx>): Layer<Message<T>, void> {
  return {
    name: 'inbox',
    wrap: (next) => inbox.handler<T>((msg, tx, ctx) => next(msg, ctx.set(inboxTransaction, tx))),
  };
}

/** The inbox transaction of the current message; throws when no {@link inboxLayer} is above. */
export function inboxTx<Tx>(ctx: CallContext): Tx {
  const tx = ctx.get(inboxTransaction);
  if (tx === undefined) {
    throw new MeshError(
      ErrorCode.INVALID_ARGUMENT,
      'no inbox transaction: wrap the handler with inboxLayer()',
    );
  }
  return tx as Tx;
}
