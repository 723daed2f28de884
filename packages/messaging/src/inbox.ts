/**
 * The idempotent consumer (inbox): a handler wrapper that records each processed event id in the
 * consumer's own database in the same transaction as the handler's effects, so a redelivered event
 * (at-least-once delivery, a re-published outbox row) finds its id and has no second effect. Stores
 * for SQLite and PostgreSQL implement it in their packages; this is the shape they share.
 */
import { type CallContext, contextKey, ErrorCode, type Layer, MeshError, type Service } from '@meshkit/core';
import type { Message } from './consume/message.ts';
import { type HandlerResult, isSettlement, type Settlement } from './consume/settlement.ts';

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
 * The inbox as a {@link Layer}, so it composes with `stack()`, the shared policies and the `layers` of
 * `consume()`: the wrapped handler runs inside the inbox transaction and reads it with {@link inboxTx}.
 * A settlement the handler returns passes through: `settle.deadLetter()` commits the effects and the id
 * (the event is done with), `settle.retry()` rolls them back like a failure, so the retry runs again.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from 'node:sqlite';
 * import { sqliteInbox } from '@meshkit/messaging-sqlite';
 * declare const broker: Broker;
 * const db = new DatabaseSync('var/mails.db');
 * await consume<{ id: string }>(broker, {
 *   group: 'mails',
 *   topics: ['user.created'],
 *   layers: [inboxLayer(sqliteInbox(db, { consumer: 'mails' }))],
 *   handler: async (msg, ctx) => {
 *     inboxTx<DatabaseSync>(ctx).prepare('INSERT INTO mails (user_id) VALUES (?)').run(msg.data.id);
 *   },
 * });
 * ```
 */
export function inboxLayer<Tx, T = unknown>(inbox: Inbox<Tx>): Layer<Message<T>, HandlerResult> {
  return {
    name: 'inbox',
    wrap: (next) => {
      // What the handler returned, per message, for the caller of the inbox handler (which resolves empty).
      const results = new WeakMap<Message<T>, Settlement>();
      const handler = inbox.handler<T>(async (msg, tx, ctx) => {
        const result = await next(msg, ctx.set(inboxTransaction, tx));
        if (!isSettlement(result)) return;
        // A retry is a failure: the transaction must roll back, or the retry would be skipped as a duplicate.
        if (result.kind === 'retry') throw new RetryInsideInbox(result);
        results.set(msg, result);
      });
      return async (msg, ctx) => {
        try {
          await handler(msg, ctx);
        } catch (error) {
          if (error instanceof RetryInsideInbox) return error.settlement;
          throw error;
        }
        const result = results.get(msg);
        results.delete(msg);
        return result;
      };
    },
  };
}

/** Carries a retry settlement out of the inbox transaction, rolling it back. */
class RetryInsideInbox extends Error {
  readonly settlement: Settlement;
  constructor(settlement: Settlement) {
    super('the handler asked for a retry');
    this.settlement = settlement;
  }
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
