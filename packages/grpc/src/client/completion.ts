/**
 * A call is over when its result is complete: a server stream completes when its last message was read,
 * or it failed, or the caller stopped reading. Layers that hold something for the length of a call
 * (deadline, bulkhead, breaker, balancer load) release on completion, not when the promise settles.
 *
 * This is the contract `@meshkit/core` is gaining (`completable` / `whenComplete`); it lives here until
 * core exports it, with the same shape, so switching is a change of import.
 */

type Listener = (error?: unknown) => void;

interface Completion {
  done: boolean;
  error: unknown;
  listeners: Listener[];
}

const completions = new WeakMap<object, Completion>();

/** The handle that ends a result's call. */
export interface CompletionHandle {
  /** Ends the call (once; later calls do nothing), with the error that ended it, if any. */
  complete(error?: unknown): void;
}

/** Attaches a completion to `result` (a streamed response) and returns the handle that fires it. */
export function completable(result: object): CompletionHandle {
  const completion: Completion = { done: false, error: undefined, listeners: [] };
  completions.set(result, completion);
  return {
    complete(error?: unknown) {
      if (completion.done) return;
      completion.done = true;
      completion.error = error;
      const listeners = completion.listeners;
      completion.listeners = [];
      for (const listener of listeners) listener(error);
    },
  };
}

/**
 * Runs `listener` when `result`'s call is complete: at once for a result without a completion (a unary
 * response is complete when it arrives) or one already complete.
 */
export function whenComplete(result: unknown, listener: Listener): void {
  const completion = typeof result === 'object' && result !== null ? completions.get(result) : undefined;
  if (completion === undefined) listener();
  else if (completion.done) listener(completion.error);
  else completion.listeners.push(listener);
}
