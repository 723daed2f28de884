import { ErrorCode, type Layer, MeshError } from '@meshkit/core';
import type { Message } from './message.ts';
import { deadLetterFor, type Settlement } from './settlement.ts';

/**
 * Skips the handler for a message whose deadline (`meshkit-deadline`, carried on the context by the
 * decode layer) passed before handling: nobody waits for its result any more, so it is dead-lettered
 * (`deadline-exceeded`) instead.
 */
export function deadlineSkipLayer<T>(): Layer<Message<T>, Settlement> {
  return {
    name: 'deadline-skip',
    wrap: (next) => (message, ctx) => {
      const deadline = ctx.deadline;
      if (deadline === undefined || ctx.clock.now() < deadline) return next(message, ctx);
      const error = new MeshError(
        ErrorCode.DEADLINE_EXCEEDED,
        `deadline ${new Date(deadline).toISOString()} passed before handling`,
      );
      return Promise.resolve(deadLetterFor('deadline-exceeded', error));
    },
  };
}
