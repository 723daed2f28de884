import { clearTargets, compact, ScopeState as State, type AbortTarget as Target } from './cancel-scope.ts';
import { type Clock, systemClock } from './clock.ts';
import {
  type CallKind,
  type ContextKey,
  contextKey,
  type Metadata,
  mergeMetadata,
  type Slot,
} from './context-data.ts';
import type { Endpoint } from './endpoint.ts';

export {
  type CallKind,
  type ContextKey,
  contextKey,
  type Metadata,
  type MetadataValue,
  metadataText,
} from './context-data.ts';

/**
 * The immutable, per-call context every {@link Service} receives.
 *
 * Layers never mutate a context; they derive a new one (`ctx.with(...)`, `ctx.withDeadline(...)`,
 * `ctx.withCancel()`). The abort signal is built lazily: a call that never reads `ctx.signal` never pays
 * for an `AbortController`, which is the largest fixed cost of a timeout in other libraries.
 */

/** What an aborting scope notifies: a listener, or the owner of a child scope (no closure per link). */
type AbortTarget = Target<CallContext>;
type ScopeState = State<CallContext>;

/** A derived context together with the function that cancels it. */
export interface CancelHandle {
  readonly ctx: CallContext;
  /** Aborts `ctx` (and everything derived from it) with `reason`; later calls do nothing. */
  cancel(reason: unknown): void;
}

/** Cancels the scope `owner` owns; assigned in {@link CallContext}'s static block (see there). */
let cancelScope: (owner: CallContext) => (reason: unknown) => void;
/** Tells one target that its scope aborted; assigned in {@link CallContext}'s static block. */
let notify: (target: AbortTarget, reason: unknown) => void;

/** The handle `withCancel()` returns: the context, and its bound `cancel` made on first read. */
class ScopeHandle implements CancelHandle {
  readonly ctx: CallContext;
  constructor(ctx: CallContext) {
    this.ctx = ctx;
  }
  get cancel(): (reason: unknown) => void {
    return cancelScope(this.ctx);
  }
}

/** What a context is made of; every field is optional when creating one. */
export interface CallContextInit {
  /** Cancels the call when aborted. */
  signal?: AbortSignal | undefined;
  /** Absolute deadline in epoch milliseconds (on `clock`). */
  deadline?: number | undefined;
  /** Relative alternative to `deadline`: the call must finish within this many milliseconds. */
  timeoutMs?: number | undefined;
  /** 1 for the first try, 2 for the first retry or hedge, and so on. Defaults to 1. */
  attempt?: number;
  /** The endpoint chosen by the balancer, once chosen. */
  endpoint?: Endpoint | undefined;
  /** Outgoing headers / metadata to propagate (trace context, request id, ...). Lower-case names. */
  metadata?: Metadata;
  /** The call's shape. Defaults to `'unary'`. */
  kind?: CallKind;
  /** Whether repeating the call is harmless. Defaults to `true`; HTTP sets it from the method. */
  idempotent?: boolean;
  /** An idempotency key the server honours; makes a non-idempotent call safe to retry. */
  idempotencyKey?: string | undefined;
  /** The clock that deadlines are measured on. Defaults to the system clock. */
  clock?: Clock;
}

const emptyMetadata: Metadata = Object.freeze({});
const callKind: ContextKey<CallKind> = contextKey<CallKind>('meshkit.callKind', 'unary');
const noop = (): void => {};

/**
 * Immutable per-call state. Create the root with {@link createContext}; derive children with `with*`.
 *
 * A context made by `withCancel()` is also the cancellation scope of itself and of everything derived
 * from it: the scope's links live in the context's own fields, and the rest of its state
 * ({@link ScopeState}) only once something cancels or listens, so a timeout pays for one context object
 * per call, not a context plus a scope.
 *
 * @example
 * ```ts
 * declare const request: { readonly signal: AbortSignal }; // e.g. the incoming request
 * declare const userService: Service<{ id: string }, unknown>;
 * const ctx = createContext({ timeoutMs: 2_000, signal: request.signal });
 * const user = await userService({ id: '42' }, ctx);
 * ```
 */
export class CallContext {
  // The public fields are `declare`d and assigned once in the constructor: a declared field would be
  // defined by a separate initializer on every construction first, and a timeout derives a context per
  // call (that initializer also counts against how much of a hot caller the optimizer inlines).
  /** Absolute deadline in epoch ms, or `undefined` for none. Only ever shrinks along a call. */
  declare readonly deadline: number | undefined;
  /** 1 for the first try; incremented by retry and hedge layers. */
  declare readonly attempt: number;
  /** The endpoint chosen by the balancer, if any. */
  declare readonly endpoint: Endpoint | undefined;
  /** Headers / metadata to send downstream. */
  declare readonly metadata: Metadata;
  /** Whether repeating this call is harmless. */
  declare readonly idempotent: boolean;
  /** Idempotency key the server honours, if any. */
  declare readonly idempotencyKey: string | undefined;
  /** The clock deadlines are measured on. */
  declare readonly clock: Clock;
  /** The context owning the nearest cancellation scope: this one after `withCancel()`, else an ancestor. */
  readonly #scope: CallContext | undefined;
  /**
   * The caller's signal. On a scope owner: the one its scope listens to (only when it has no parent scope).
   * Elsewhere it is read only when there is no scope.
   */
  readonly #external: AbortSignal | undefined;
  readonly #slots: Slot | undefined;
  /** This context's signal once read; on a scope owner, also the scope's signal. */
  #signal: AbortSignal | undefined;
  /** On a scope owner: the enclosing scope's owner, if any. */
  readonly #parent: CallContext | undefined;
  /** On a scope owner: the state made on first cancel or listen (see {@link ScopeState}). */
  #state: ScopeState | undefined;

  /**
   * Every field is its own argument, so deriving a child allocates the child and nothing else (no
   * object of fields or patch in between; the balancer derives one per call).
   *
   * @param scope the owner of the child's scope; `null` makes the child the owner of a new one (`this`
   * cannot be passed before it exists).
   */
  private constructor(
    deadline: number | undefined,
    attempt: number,
    endpoint: Endpoint | undefined,
    metadata: Metadata,
    idempotent: boolean,
    idempotencyKey: string | undefined,
    clock: Clock,
    scope: CallContext | null | undefined,
    external: AbortSignal | undefined,
    slots: Slot | undefined,
    parent: CallContext | undefined,
  ) {
    this.deadline = deadline;
    this.attempt = attempt;
    this.endpoint = endpoint;
    this.metadata = metadata;
    this.idempotent = idempotent;
    this.idempotencyKey = idempotencyKey;
    this.clock = clock;
    this.#scope = scope === null ? this : scope;
    this.#external = external;
    this.#slots = slots;
    this.#parent = parent;
    // `#signal` and `#state` start undefined from their declarations.
  }

  static {
    // The scope's cancel must reach private state from ScopeHandle, which lives outside this class body.
    cancelScope = (owner) => owner.#canceller();
    notify = (target, reason) => {
      if (target instanceof CallContext) target.#fire(reason);
      else target(reason);
    };
  }

  /** @internal use {@link createContext}. */
  static create(init: CallContextInit = {}): CallContext {
    const clock = init.clock ?? systemClock;
    let deadline = init.deadline;
    if (init.timeoutMs !== undefined) {
      const byTimeout = clock.now() + init.timeoutMs;
      deadline = deadline === undefined ? byTimeout : Math.min(deadline, byTimeout);
    }
    return new CallContext(
      deadline,
      init.attempt ?? 1,
      init.endpoint,
      init.metadata ?? emptyMetadata,
      init.idempotent ?? true,
      init.idempotencyKey,
      clock,
      undefined,
      init.signal,
      init.kind === undefined || init.kind === 'unary'
        ? undefined
        : { key: callKind as ContextKey<unknown>, value: init.kind, next: undefined },
      undefined,
    );
  }

  /**
   * The call's shape: `'unary'` unless a transport says otherwise (`ctx.with({ kind })`). A streamed
   * result carries its completion (see `whenComplete`); a request stream cannot be replayed, so retry
   * and hedge send a `'client-stream'` or `'bidi'` call again only when their `replay` says they can.
   */
  get kind(): CallKind {
    return this.get(callKind) ?? 'unary';
  }

  /**
   * The call's cancellation signal: aborts on caller cancellation, on a timeout of an enclosing layer,
   * or when a hedge loses. Created on first read.
   */
  get signal(): AbortSignal {
    if (this.#signal !== undefined) return this.#signal;
    const scope = this.#scope;
    if (scope !== undefined) this.#signal = scope.#scopeSignal();
    else if (this.#external !== undefined) this.#signal = this.#external;
    else this.#signal = new AbortController().signal;
    return this.#signal;
  }

  /** `true` once the call was cancelled; cheap, never creates a signal. */
  get aborted(): boolean {
    const scope = this.#scope;
    if (scope !== undefined) return scope.#scopeAborted();
    return this.#external?.aborted ?? false;
  }

  /**
   * `true` when something can cancel this call: a caller's signal or a cancellation scope
   * (`withCancel()`). Cheap, never creates a signal; a transport wires cancellation
   * ({@link CallContext.onAbort}) only when this is `true`, so an uncancellable call pays for nothing.
   */
  get cancellable(): boolean {
    return this.#scope !== undefined || this.#external !== undefined;
  }

  /**
   * Runs `listener` once when the call is cancelled (at once, in a microtask, if it already is) and
   * returns the function that unregisters it. Far cheaper than {@link CallContext.signal}, which must
   * combine the scopes' signals with `AbortSignal.any` (about 10 µs per level on Node 24): consumers that
   * know when their work ends (a transport's request) listen, and unregister when done.
   *
   * @example
   * ```ts
   * declare const ctx: CallContext;
   * declare const request: { destroy(error: Error): void; readonly done: Promise<Buffer> };
   * const stop = ctx.onAbort((reason) => request.destroy(reason as Error));
   * try { await request.done; } finally { stop(); }
   * ```
   */
  onAbort(listener: (reason: unknown) => void): () => void {
    const scope = this.#scope;
    if (scope !== undefined) return scope.#listen(listener);
    const external = this.#external;
    if (external === undefined) return noop;
    if (external.aborted) {
      queueMicrotask(() => listener(external.reason));
      return noop;
    }
    const onAbort = (): void => listener(external.reason);
    external.addEventListener('abort', onAbort, { once: true });
    return () => external.removeEventListener('abort', onAbort);
  }

  /** Why the call was cancelled, when {@link CallContext.aborted}. */
  get abortReason(): unknown {
    const scope = this.#scope;
    if (scope !== undefined) return scope.#scopeReason();
    return this.#external?.reason;
  }

  /** Milliseconds left before the deadline (`Infinity` without one; may be negative once passed). */
  remainingMs(): number {
    return this.deadline === undefined ? Infinity : this.deadline - this.clock.now();
  }

  /** Reads an extension slot, or its default. */
  get<T>(key: ContextKey<T>): T | undefined {
    for (let slot = this.#slots; slot !== undefined; slot = slot.next) {
      if (slot.key === key) return slot.value as T;
    }
    return key.defaultValue;
  }

  /** A child context with `key` set to `value`. */
  set<T>(key: ContextKey<T>, value: T): CallContext {
    return this.#derive(
      this.deadline,
      this.attempt,
      this.endpoint,
      this.metadata,
      this.idempotent,
      this.idempotencyKey,
      { key, value, next: this.#slots },
    );
  }

  /**
   * A child context with some fields replaced. A `deadline` here can only shrink the current one;
   * `metadata` is merged over the current metadata.
   */
  with(patch: {
    attempt?: number;
    endpoint?: Endpoint | undefined;
    metadata?: Metadata;
    idempotent?: boolean;
    idempotencyKey?: string | undefined;
    deadline?: number | undefined;
    kind?: CallKind;
  }): CallContext {
    const deadline =
      patch.deadline === undefined || (this.deadline !== undefined && this.deadline <= patch.deadline)
        ? this.deadline
        : patch.deadline;
    return this.#derive(
      deadline,
      patch.attempt ?? this.attempt,
      'endpoint' in patch ? patch.endpoint : this.endpoint,
      patch.metadata === undefined ? this.metadata : { ...this.metadata, ...patch.metadata },
      patch.idempotent ?? this.idempotent,
      'idempotencyKey' in patch ? patch.idempotencyKey : this.idempotencyKey,
      patch.kind === undefined || patch.kind === this.kind
        ? this.#slots
        : { key: callKind as ContextKey<unknown>, value: patch.kind, next: this.#slots },
    );
  }

  /** A child with `endpoint` set: `with({ endpoint })` without the patch object, for a balancer's every call. */
  withEndpoint(endpoint: Endpoint | undefined): CallContext {
    return this.#derive(
      this.deadline,
      this.attempt,
      endpoint,
      this.metadata,
      this.idempotent,
      this.idempotencyKey,
      this.#slots,
    );
  }

  /**
   * A child with `metadata` merged over the current metadata, for a publisher's every call and attempt:
   * no patch object, and `metadata` is kept as it is, not copied, when it has every name the current
   * metadata has (a `traceparent` replaced hop by hop). The caller hands it over: it must not change
   * afterwards.
   */
  withMetadata(metadata: Metadata): CallContext {
    return this.#derive(
      this.deadline,
      this.attempt,
      this.endpoint,
      mergeMetadata(this.metadata, metadata),
      this.idempotent,
      this.idempotencyKey,
      this.#slots,
    );
  }

  /** A child whose deadline is the earlier of the current one and `deadline` (epoch ms). */
  withDeadline(deadline: number): CallContext {
    if (this.deadline !== undefined && this.deadline <= deadline) return this;
    return this.with({ deadline });
  }

  /** A child whose deadline is at most `timeoutMs` from now. */
  withTimeout(timeoutMs: number): CallContext {
    return this.withDeadline(this.clock.now() + timeoutMs);
  }

  /**
   * A child with its own cancellation scope: `cancel(reason)` aborts the child (and its descendants)
   * without touching the parent; the child also aborts whenever the parent does. With `deadline` (epoch
   * ms) the child's deadline is also shrunk to it, in the same step: timeouts need both, once per call.
   */
  withCancel(deadline?: number): CancelHandle {
    // The deadline goes in as its own argument: no patch object per call on a timeout's hot path.
    const shrunk =
      deadline === undefined || (this.deadline !== undefined && this.deadline <= deadline)
        ? this.deadline
        : deadline;
    const parent = this.#scope;
    const external = parent === undefined ? this.#external : undefined;
    return new ScopeHandle(
      new CallContext(
        shrunk,
        this.attempt,
        this.endpoint,
        this.metadata,
        this.idempotent,
        this.idempotencyKey,
        this.clock,
        null,
        external,
        this.#slots,
        parent,
      ),
    );
  }

  /** A child in the same scope as this context, with these fields and the same clock. */
  #derive(
    deadline: number | undefined,
    attempt: number,
    endpoint: Endpoint | undefined,
    metadata: Metadata,
    idempotent: boolean,
    idempotencyKey: string | undefined,
    slots: Slot | undefined,
  ): CallContext {
    const scope = this.#scope;
    const external = scope === undefined ? this.#external : undefined;
    return new CallContext(
      deadline,
      attempt,
      endpoint,
      metadata,
      idempotent,
      idempotencyKey,
      this.clock,
      scope,
      external,
      slots,
      undefined,
    );
  }

  // The scope of a context made by `withCancel()`; the methods below are called on the owner only.

  #scopeAborted(): boolean {
    const state = this.#state;
    if (state?.aborted) return true;
    if (this.#parent !== undefined) return this.#parent.#scopeAborted();
    return this.#external?.aborted ?? false;
  }

  #scopeReason(): unknown {
    const state = this.#state;
    if (state?.aborted) return state.reason;
    const parent = this.#parent;
    if (parent !== undefined) return parent.#scopeAborted() ? parent.#scopeReason() : undefined;
    return this.#external?.reason;
  }

  #scopeSignal(): AbortSignal {
    if (this.#signal !== undefined) return this.#signal;
    const state = this.#stateOf();
    const controller = new AbortController();
    if (state.aborted) controller.abort(state.reason);
    state.controller = controller;
    const sources: AbortSignal[] = [controller.signal];
    if (this.#parent !== undefined) sources.push(this.#parent.#scopeSignal());
    if (this.#external !== undefined) sources.push(this.#external);
    // AbortSignal.any holds its sources weakly, so a long-lived parent does not accumulate listeners.
    this.#signal = sources.length === 1 ? controller.signal : AbortSignal.any(sources);
    return this.#signal;
  }

  #stateOf(): ScopeState {
    if (this.#state === undefined) this.#state = new State<CallContext>();
    return this.#state;
  }

  /**
   * Runs `listener` once when this scope aborts; returns the function that unregisters it. The scope
   * listens to its parent (or external signal) only while it has listeners of its own, so a long-lived
   * parent holds nothing once its children's listeners are gone.
   */
  #listen(listener: (reason: unknown) => void): () => void {
    if (this.#scopeAborted()) {
      const reason = this.#scopeReason();
      queueMicrotask(() => listener(reason));
      return noop;
    }
    const state = this.#stateOf();
    this.#add(state, listener);
    return () => this.#delete(state, listener);
  }

  #add(state: ScopeState, target: AbortTarget): void {
    // Targets fire in the order they were added: `first` takes a target only while nothing follows it.
    if (state.first === undefined && state.more === undefined) state.first = target;
    else if (state.more === undefined) state.more = [target];
    else state.more.push(target);
    if (++state.count === 1) this.#hook(state);
  }

  /** Removes one registration of `target`; nothing once the scope fired (its targets are no longer held). */
  #delete(state: ScopeState, target: AbortTarget): void {
    if (state.first === target) {
      state.first = undefined;
    } else {
      const more = state.more;
      const i = more === undefined ? -1 : more.indexOf(target);
      if (i < 0) return;
      // A hole rather than `splice` (which allocates the array of what it removed), closed up in place
      // once holes are most of the list, so a long-lived scope whose children come and go stays small.
      more![i] = undefined;
      if (++state.holes > 8 && state.holes * 2 > more!.length) compact(state);
    }
    if (--state.count === 0) {
      clearTargets(state);
      this.#unhook(state);
    }
  }

  /** Starts listening upward: to the parent scope (as a target, no closure) or to the caller's signal. */
  #hook(state: ScopeState): void {
    const parent = this.#parent;
    const external = this.#external;
    if (parent !== undefined) {
      parent.#add(parent.#stateOf(), this);
    } else if (external !== undefined) {
      const onAbort = (): void => this.#fire(external.reason);
      external.addEventListener('abort', onAbort, { once: true });
      state.unhook = () => external.removeEventListener('abort', onAbort);
    }
  }

  #unhook(state: ScopeState): void {
    const parent = this.#parent;
    if (parent !== undefined) {
      const parentState = parent.#state;
      if (parentState !== undefined) parent.#delete(parentState, this);
    } else if (state.unhook !== undefined) {
      state.unhook();
      state.unhook = undefined;
    }
  }

  #fire(reason: unknown): void {
    const state = this.#stateOf();
    const { first, more } = state;
    if (state.count > 0) this.#unhook(state);
    clearTargets(state);
    if (first !== undefined) notify(first, reason);
    if (more !== undefined) for (const target of more) if (target !== undefined) notify(target, reason);
  }

  /** The scope's bound cancel, made on first read: a timeout's scope is almost never cancelled. */
  #canceller(): (reason: unknown) => void {
    const state = this.#stateOf();
    if (state.cancel === undefined) {
      state.cancel = (reason: unknown): void => {
        // Already aborted from above: the abort and its reason stand (a signal's reason never changes).
        if (state.aborted || this.#scopeAborted()) return;
        state.aborted = true;
        state.reason = reason;
        state.controller?.abort(reason);
        this.#fire(reason);
      };
    }
    return state.cancel;
  }
}

/** Creates a root {@link CallContext}. */
export function createContext(init?: CallContextInit): CallContext {
  return CallContext.create(init);
}
