/**
 * The bookkeeping of a cancellation scope (a context made by `withCancel()`): who to notify when it aborts,
 * kept small because a timeout makes a scope for every call. The tree walk itself lives in `CallContext`,
 * whose private fields hold the links.
 */

/** What an aborting scope notifies: a listener, or the owner of a child scope (no closure per link). */
export type AbortTarget<Owner> = ((reason: unknown) => void) | Owner;

/**
 * What a cancellation scope holds beyond its links, made only once the scope is cancelled, listened to or
 * asked for its signal: a timeout creates a scope for every call and does none of these on success.
 */
export class ScopeState<Owner> {
  aborted = false;
  reason: unknown = undefined;
  controller: AbortController | undefined = undefined;
  /**
   * The first target, in a field: a scope almost always has one (a child scope or a transport's
   * request), and an array per scope was most of what listening cost a call.
   */
  first: AbortTarget<Owner> | undefined = undefined;
  /** Targets after the first, made for the second; a removed one leaves a hole (`undefined`). */
  more: (AbortTarget<Owner> | undefined)[] | undefined = undefined;
  /** Holes in `more`. */
  holes = 0;
  /** Live targets in `first` and `more`; the scope listens upward only while this is above zero. */
  count = 0;
  /** Stops listening to the caller's signal (a root scope with one); a child scope needs none. */
  unhook: (() => void) | undefined = undefined;
  /** The bound `cancel` handed out by {@link CancelHandle}, so destructuring it works. */
  cancel: ((reason: unknown) => void) | undefined = undefined;
}

/** Closes up the holes of `state.more` in place, keeping the order. */
export function compact(state: ScopeState<unknown>): void {
  const more = state.more!;
  let kept = 0;
  for (let i = 0; i < more.length; i++) {
    const target = more[i];
    if (target !== undefined) more[kept++] = target;
  }
  more.length = kept;
  state.holes = 0;
}

/** Drops every target: the scope fired, or its last listener left. */
export function clearTargets(state: ScopeState<unknown>): void {
  state.first = undefined;
  state.more = undefined;
  state.holes = 0;
  state.count = 0;
}
