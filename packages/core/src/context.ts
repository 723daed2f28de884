import { type Clock, systemClock } from './clock.ts';
import type { Endpoint } from './endpoint.ts';

/**
 * The immutable, per-call context every {@link Service} receives.
 *
 * Layers never mutate a context; they derive a new one (`ctx.with(...)`, `ctx.withDeadline(...)`,
 * `ctx.withCancel()`). The abort signal is built lazily: a call that never reads `ctx.signal` never pays
 * for an `AbortController`, which is the largest fixed cost of a timeout in other libraries.
 */

/** A typed slot for extensions; create one with {@link contextKey}. */
export interface ContextKey<T> {
  readonly name: string;
  readonly defaultValue: T | undefined;
}

/**
 * Creates a typed extension slot.
 *
 * @example
 * ```ts
 * const tenant = contextKey<string>('tenant');
 * const ctx = createContext().set(tenant, 'acme');
 * ctx.get(tenant); // 'acme'
 * ```
 */
export function contextKey<T>(name: string, defaultValue?: T): ContextKey<T> {
  return Object.freeze({ name, defaultValue });
}

interface Slot {
  readonly key: ContextKey<unknown>;
  readonly value: unknown;
  readonly next: Slot | undefined;
}

/** A derived context together with the function that cancels it. */
export interface CancelHandle {
  readonly ctx: CallContext;
  /** Aborts `ctx` (and everything derived from it) with `reason`; later calls do nothing. */
  cancel(reason: unknown): void;
}

/**
 * A cancellation scope. Aborts when told to, when its parent scope aborts, or when an external signal
 * aborts; the `AbortSignal` exists only once someone asks for it.
 */
class CancelScope implements CancelHandle {
  ctx!: CallContext;
  readonly #parent: CancelScope | undefined;
  readonly #external: AbortSignal | undefined;
  #controller: AbortController | undefined;
  #signal: AbortSignal | undefined;
  #aborted = false;
  #reason: unknown;
  #cancel: ((reason: unknown) => void) | undefined;
  #listeners: ((reason: unknown) => void)[] | undefined;
  #unhook: (() => void) | undefined;
  #fromParent: ((reason: unknown) => void) | undefined;

  constructor(parent: CancelScope | undefined, external: AbortSignal | undefined) {
    this.#parent = parent;
    this.#external = external;
  }

  get aborted(): boolean {
    return this.#aborted || (this.#parent?.aborted ?? false) || (this.#external?.aborted ?? false);
  }

  get reason(): unknown {
    if (this.#aborted) return this.#reason;
    if (this.#parent?.aborted) return this.#parent.reason;
    return this.#external?.reason;
  }

  get signal(): AbortSignal {
    if (this.#signal !== undefined) return this.#signal;
    const controller = new AbortController();
    if (this.#aborted) controller.abort(this.#reason);
    this.#controller = controller;
    const sources: AbortSignal[] = [controller.signal];
    if (this.#parent !== undefined) sources.push(this.#parent.signal);
    if (this.#external !== undefined) sources.push(this.#external);
    // AbortSignal.any holds its sources weakly, so a long-lived parent does not accumulate listeners.
    this.#signal = sources.length === 1 ? controller.signal : AbortSignal.any(sources);
    return this.#signal;
  }

  /**
   * Runs `listener` once when this scope aborts; returns the function that unregisters it. The scope
   * listens to its parent (or external signal) only while it has listeners of its own, so a long-lived
   * parent holds nothing once its children's listeners are gone.
   */
  listen(listener: (reason: unknown) => void): () => void {
    if (this.aborted) {
      const reason = this.reason;
      queueMicrotask(() => listener(reason));
      return noop;
    }
    // A plain array: scopes almost always have one listener (a child scope or a transport's request).
    let listeners = this.#listeners;
    if (listeners === undefined) {
      listeners = [];
      this.#listeners = listeners;
    }
    listeners.push(listener);
    if (listeners.length === 1) this.#hook();
    return () => this.#remove(listeners, listener);
  }

  #remove(listeners: ((reason: unknown) => void)[], listener: (reason: unknown) => void): void {
    // Once fired, the list is being iterated and no longer ours: leave it alone.
    if (this.#listeners !== listeners) return;
    const i = listeners.indexOf(listener);
    if (i < 0) return;
    listeners.splice(i, 1);
    if (listeners.length === 0) {
      this.#unhook?.();
      this.#unhook = undefined;
    }
  }

  #hook(): void {
    const parent = this.#parent;
    const external = this.#external;
    if (parent !== undefined) {
      this.#fromParent ??= (reason) => this.#fire(reason);
      this.#unhook = parent.listen(this.#fromParent);
    } else if (external !== undefined) {
      const onAbort = (): void => this.#fire(external.reason);
      external.addEventListener('abort', onAbort, { once: true });
      this.#unhook = () => external.removeEventListener('abort', onAbort);
    }
  }

  #fire(reason: unknown): void {
    const listeners = this.#listeners;
    this.#listeners = undefined;
    this.#unhook?.();
    this.#unhook = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener(reason);
  }

  /**
   * A bound function so `const { ctx, cancel } = parent.withCancel()` works. Made on first read, not per
   * scope: a timeout creates a scope for every call but cancels almost none.
   */
  get cancel(): (reason: unknown) => void {
    if (this.#cancel === undefined) {
      this.#cancel = (reason: unknown): void => {
        if (this.#aborted) return;
        this.#aborted = true;
        this.#reason = reason;
        this.#controller?.abort(reason);
        this.#fire(reason);
      };
    }
    return this.#cancel;
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
  metadata?: Readonly<Record<string, string>>;
  /** Whether repeating the call is harmless. Defaults to `true`; HTTP sets it from the method. */
  idempotent?: boolean;
  /** An idempotency key the server honours; makes a non-idempotent call safe to retry. */
  idempotencyKey?: string | undefined;
  /** The clock that deadlines are measured on. Defaults to the system clock. */
  clock?: Clock;
}

const emptyMetadata: Readonly<Record<string, string>> = Object.freeze({});
const noop = (): void => {};

/**
 * Immutable per-call state. Create the root with {@link createContext}; derive children with `with*`.
 *
 * @example
 * ```ts
 * const ctx = createContext({ timeoutMs: 2_000, signal: request.signal });
 * const user = await userService({ id: '42' }, ctx);
 * ```
 */
export class CallContext {
  /** Absolute deadline in epoch ms, or `undefined` for none. Only ever shrinks along a call. */
  readonly deadline: number | undefined;
  /** 1 for the first try; incremented by retry and hedge layers. */
  readonly attempt: number;
  /** The endpoint chosen by the balancer, if any. */
  readonly endpoint: Endpoint | undefined;
  /** Headers / metadata to send downstream. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Whether repeating this call is harmless. */
  readonly idempotent: boolean;
  /** Idempotency key the server honours, if any. */
  readonly idempotencyKey: string | undefined;
  /** The clock deadlines are measured on. */
  readonly clock: Clock;
  readonly #scope: CancelScope | undefined;
  readonly #external: AbortSignal | undefined;
  readonly #slots: Slot | undefined;
  #signal: AbortSignal | undefined;

  private constructor(
    from: {
      deadline: number | undefined;
      attempt: number;
      endpoint: Endpoint | undefined;
      metadata: Readonly<Record<string, string>>;
      idempotent: boolean;
      idempotencyKey: string | undefined;
      clock: Clock;
    },
    scope: CancelScope | undefined,
    external: AbortSignal | undefined,
    slots: Slot | undefined,
    deadline: number | undefined = from.deadline,
  ) {
    this.deadline = deadline;
    this.attempt = from.attempt;
    this.endpoint = from.endpoint;
    this.metadata = from.metadata;
    this.idempotent = from.idempotent;
    this.idempotencyKey = from.idempotencyKey;
    this.clock = from.clock;
    this.#scope = scope;
    this.#external = external;
    this.#slots = slots;
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
      {
        deadline,
        attempt: init.attempt ?? 1,
        endpoint: init.endpoint,
        metadata: init.metadata ?? emptyMetadata,
        idempotent: init.idempotent ?? true,
        idempotencyKey: init.idempotencyKey,
        clock,
      },
      undefined,
      init.signal,
      undefined,
    );
  }

  /**
   * The call's cancellation signal: aborts on caller cancellation, on a timeout of an enclosing layer,
   * or when a hedge loses. Created on first read.
   */
  get signal(): AbortSignal {
    if (this.#signal !== undefined) return this.#signal;
    if (this.#scope !== undefined) this.#signal = this.#scope.signal;
    else if (this.#external !== undefined) this.#signal = this.#external;
    else this.#signal = new AbortController().signal;
    return this.#signal;
  }

  /** `true` once the call was cancelled; cheap, never creates a signal. */
  get aborted(): boolean {
    if (this.#scope !== undefined) return this.#scope.aborted;
    return this.#external?.aborted ?? false;
  }

  /**
   * `true` when something can cancel this call: a caller's signal or a cancellation scope
   * (`withCancel()`). Cheap, never creates a signal; a transport passes {@link CallContext.signal} on only
   * when this is `true` or a deadline is set, so an uncancellable call pays for no `AbortController`.
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
   * const stop = ctx.onAbort((reason) => request.destroy(reason as Error));
   * try { return await request.done; } finally { stop(); }
   * ```
   */
  onAbort(listener: (reason: unknown) => void): () => void {
    if (this.#scope !== undefined) return this.#scope.listen(listener);
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
    if (this.#scope !== undefined) return this.#scope.reason;
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
    return new CallContext(this, this.#scope, this.#external, { key, value, next: this.#slots });
  }

  /**
   * A child context with some fields replaced. A `deadline` here can only shrink the current one;
   * `metadata` is merged over the current metadata.
   */
  with(patch: {
    attempt?: number;
    endpoint?: Endpoint | undefined;
    metadata?: Readonly<Record<string, string>>;
    idempotent?: boolean;
    idempotencyKey?: string | undefined;
    deadline?: number | undefined;
  }): CallContext {
    const deadline =
      patch.deadline === undefined || (this.deadline !== undefined && this.deadline <= patch.deadline)
        ? this.deadline
        : patch.deadline;
    return new CallContext(
      {
        deadline,
        attempt: patch.attempt ?? this.attempt,
        endpoint: 'endpoint' in patch ? patch.endpoint : this.endpoint,
        metadata: patch.metadata === undefined ? this.metadata : { ...this.metadata, ...patch.metadata },
        idempotent: patch.idempotent ?? this.idempotent,
        idempotencyKey: 'idempotencyKey' in patch ? patch.idempotencyKey : this.idempotencyKey,
        clock: this.clock,
      },
      this.#scope,
      this.#external,
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
    const scope = new CancelScope(this.#scope, this.#scope === undefined ? this.#external : undefined);
    // The deadline goes in as its own argument: no patch object per call on a timeout's hot path.
    const shrunk =
      deadline === undefined || (this.deadline !== undefined && this.deadline <= deadline)
        ? this.deadline
        : deadline;
    scope.ctx = new CallContext(this, scope, undefined, this.#slots, shrunk);
    return scope;
  }
}

/** Creates a root {@link CallContext}. */
export function createContext(init?: CallContextInit): CallContext {
  return CallContext.create(init);
}
