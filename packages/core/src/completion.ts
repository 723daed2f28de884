/**
 * When a call is over. For a unary call it is when its promise settles; for a streamed result (an HTTP
 * body read as a stream, a gRPC server stream) it is when the stream ends, fails or is cancelled. The
 * result then carries a {@link Completion} (tower's `TrackCompletion`): the transport that made the
 * stream completes it, and every layer that holds something for the call (a deadline's timer, a
 * bulkhead slot, a breaker's outcome, a balancer's in-flight count and latency sample) releases it in
 * {@link whenComplete} rather than when the promise settles.
 */

// A registered symbol: two installed copies of core agree on it, as on the MeshError brand.
const completionKey: unique symbol = Symbol.for('meshkit.completion');

type Listener = (error: unknown) => void;

/**
 * The end of a streamed call: completed once, with `undefined` (the stream ended) or the error that
 * ended it. Listeners added after that run at once.
 */
export class Completion {
  #done = false;
  #error: unknown = undefined;
  /** The first listener in a field: a call almost always has one or two (its innermost layers). */
  #first: Listener | undefined = undefined;
  #more: Listener[] | undefined = undefined;

  /** `true` once the stream ended, failed or was cancelled. */
  get done(): boolean {
    return this.#done;
  }

  /** Why the stream ended early, once {@link done}; `undefined` when it ended normally. */
  get error(): unknown {
    return this.#error;
  }

  /** Runs `listener` once, when the call is over (at once if it already is). Listeners run in order. */
  onDone(listener: Listener): void {
    if (this.#done) {
      listener(this.#error);
      return;
    }
    if (this.#first === undefined && this.#more === undefined) this.#first = listener;
    else if (this.#more === undefined) this.#more = [listener];
    else this.#more.push(listener);
  }

  /** Ends the call: normally without an error, early with one. Later calls do nothing. */
  complete(error?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    const first = this.#first;
    const more = this.#more;
    this.#first = undefined;
    this.#more = undefined;
    if (first !== undefined) first(error);
    if (more !== undefined) for (const listener of more) listener(error);
  }
}

/**
 * Attaches a new {@link Completion} to `result` (a streamed response a transport is about to return)
 * and returns it; the transport completes it when the stream is over. A result that already carries
 * one keeps it.
 *
 * @example
 * ```ts
 * import { Readable } from 'node:stream';
 * import { completable } from '@meshkit/core';
 *
 * const body = Readable.from(['a', 'b']);
 * const response = { status: 200, body };
 * const completion = completable(response);
 * body.once('close', () => completion.complete(body.errored ?? undefined));
 * ```
 */
export function completable<T extends object>(result: T): Completion {
  const existing = completionOf(result);
  if (existing !== undefined) return existing;
  const completion = new Completion();
  Object.defineProperty(result, completionKey, { value: completion });
  return completion;
}

/** The completion `result` carries: set for a streamed result, `undefined` for a unary one. */
export function completionOf(result: unknown): Completion | undefined {
  return typeof result === 'object' && result !== null
    ? (result as { [completionKey]?: Completion })[completionKey]
    : undefined;
}

/**
 * Runs `listener` when the call that produced `result` is over: at once for a unary result, when the
 * stream is done for a streamed one (with the error that ended it early, if any).
 */
export function whenComplete(result: unknown, listener: Listener): void {
  const completion = completionOf(result);
  if (completion === undefined) listener(undefined);
  else completion.onDone(listener);
}
