import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from './clock.ts';
import { contextKey, createContext } from './context.ts';
import { staticEndpoint } from './endpoint.ts';

describe('CallContext', () => {
  it('starts with attempt 1, idempotent, no deadline', () => {
    const ctx = createContext();
    assert.equal(ctx.attempt, 1);
    assert.equal(ctx.idempotent, true);
    assert.equal(ctx.deadline, undefined);
    assert.equal(ctx.remainingMs(), Infinity);
  });

  it('only ever shrinks the deadline across nested derivations', () => {
    const clock = new FakeClock();
    const root = createContext({ clock, timeoutMs: 1_000 });
    assert.equal(root.remainingMs(), 1_000);
    const shorter = root.withTimeout(300);
    assert.equal(shorter.remainingMs(), 300);
    const longer = shorter.withTimeout(5_000);
    assert.equal(longer.deadline, shorter.deadline, 'a longer timeout must not extend the deadline');
    const patched = longer.with({ deadline: clock.now() + 10_000 });
    assert.equal(patched.deadline, shorter.deadline);
  });

  it('reports remaining time as the clock moves', async () => {
    const clock = new FakeClock();
    const ctx = createContext({ clock, timeoutMs: 500 });
    await clock.advance(200);
    assert.equal(ctx.remainingMs(), 300);
    const child = ctx.withTimeout(1_000);
    assert.equal(child.remainingMs(), 300);
  });

  it('does not create a signal until asked, and aborts children with the parent', () => {
    const external = new AbortController();
    const root = createContext({ signal: external.signal });
    const { ctx: child, cancel } = root.withCancel();
    const { ctx: grandchild } = child.withCancel();
    assert.equal(grandchild.aborted, false);
    external.abort(new Error('caller gone'));
    assert.equal(child.aborted, true);
    assert.equal(grandchild.aborted, true);
    assert.equal(grandchild.signal.aborted, true);
    assert.equal((grandchild.abortReason as Error).message, 'caller gone');
    cancel(new Error('ignored: already aborted by parent'));
  });

  it('is cancellable only with a caller signal or a cancel scope, and says so without a signal', () => {
    const plain = createContext({ timeoutMs: 100 });
    assert.equal(plain.cancellable, false);
    assert.equal(plain.with({ attempt: 2 }).cancellable, false);
    assert.equal(createContext({ signal: new AbortController().signal }).cancellable, true);
    const { ctx: scoped } = plain.withCancel();
    assert.equal(scoped.cancellable, true);
    assert.equal(scoped.withTimeout(10).cancellable, true);
  });

  it('onAbort runs listeners through the scope chain with the reason, and unregisters cleanly', async () => {
    const external = new AbortController();
    const root = createContext({ signal: external.signal });
    const { ctx: child } = root.withCancel();
    const { ctx: grandchild } = child.withCancel();
    const seen: unknown[] = [];
    const kept = grandchild.onAbort((reason) => seen.push(['kept', reason]));
    const dropped = grandchild.onAbort((reason) => seen.push(['dropped', reason]));
    dropped();
    const onRoot = root.onAbort((reason) => seen.push(['root', reason]));
    const reason = new Error('caller gone');
    external.abort(reason);
    assert.deepEqual(seen, [
      ['kept', reason],
      ['root', reason],
    ]);
    kept();
    onRoot();
    // Already cancelled: the listener still runs, in a microtask.
    const late: unknown[] = [];
    grandchild.onAbort((r) => late.push(r));
    assert.deepEqual(late, []);
    await Promise.resolve();
    assert.deepEqual(late, [reason]);
  });

  it('onAbort fires on a scope cancel but not for siblings or the parent, and costs nothing without a scope', () => {
    const root = createContext({ timeoutMs: 100 });
    assert.equal(typeof root.onAbort(() => assert.fail('nothing can cancel this')), 'function');
    const { ctx: parent, cancel: cancelParent } = root.withCancel();
    const { ctx: a, cancel: cancelA } = parent.withCancel();
    const { ctx: b } = parent.withCancel();
    const seen: string[] = [];
    a.onAbort(() => seen.push('a'));
    b.onAbort(() => seen.push('b'));
    parent.onAbort(() => seen.push('parent'));
    cancelA('hedge lost');
    assert.deepEqual(seen, ['a']);
    const unregister = b.onAbort(() => seen.push('b2'));
    unregister();
    cancelParent('deadline');
    assert.deepEqual(seen, ['a', 'b', 'parent']);
    assert.equal(b.signal.aborted, true, 'the signal agrees with the listeners');
  });

  it('cancelling a child does not touch the parent', () => {
    const root = createContext();
    const parent = root.withCancel();
    const child = parent.ctx.withCancel();
    const seen = child.ctx.signal; // created before cancel: must flip
    child.cancel(new Error('lost the hedge race'));
    assert.equal(seen.aborted, true);
    assert.equal(parent.ctx.aborted, false);
    assert.equal(parent.ctx.signal.aborted, false);
    parent.cancel(new Error('timeout'));
    assert.equal(parent.ctx.signal.aborted, true);
  });

  it('withCancel(deadline) shrinks the deadline in the same step, never extends it', () => {
    const clock = new FakeClock();
    const root = createContext({ clock, timeoutMs: 1_000, attempt: 2 });
    const shorter = root.withCancel(clock.now() + 300).ctx;
    assert.equal(shorter.remainingMs(), 300);
    assert.equal(shorter.attempt, 2);
    const longer = shorter.withCancel(clock.now() + 5_000).ctx;
    assert.equal(longer.deadline, shorter.deadline);
    assert.equal(root.withCancel().ctx.deadline, root.deadline);
  });

  it('a signal read after cancel is already aborted with the reason', () => {
    const { ctx, cancel } = createContext().withCancel();
    const reason = new Error('late');
    cancel(reason);
    assert.equal(ctx.signal.aborted, true);
    assert.equal(ctx.signal.reason, reason);
  });

  it('a scope reaches everything derived from its context, and its cancel is one bound function', async () => {
    const clock = new FakeClock();
    const root = createContext({ clock });
    const handle = root.withCancel(clock.now() + 100);
    const { cancel } = handle;
    assert.equal(handle.cancel, cancel, 'the same function on every read');
    const key = contextKey<string>('k');
    const derived = handle.ctx.with({ attempt: 2 }).set(key, 'v');
    assert.equal(derived.cancellable, true);
    assert.equal(derived.deadline, handle.ctx.deadline);
    const seen: unknown[] = [];
    derived.onAbort((reason) => seen.push(reason));
    const reason = new Error('expired');
    cancel(reason);
    cancel(new Error('later calls do nothing'));
    assert.deepEqual(seen, [reason]);
    assert.equal(derived.aborted, true);
    assert.equal(derived.abortReason, reason);
    assert.equal(derived.signal.aborted, true, 'a signal first read after the cancel is aborted');
    assert.equal(derived.signal.reason, reason);
    assert.equal(handle.ctx.signal, derived.signal, 'one signal per scope');
    assert.equal(root.aborted, false);
  });

  it('an own cancel wins over a later parent abort, as the reason a child reports', () => {
    const external = new AbortController();
    const parent = createContext({ signal: external.signal }).withCancel();
    const child = parent.ctx.withCancel();
    child.cancel('own');
    external.abort('caller');
    assert.equal(child.ctx.abortReason, 'own');
    assert.equal(parent.ctx.abortReason, 'caller');
    assert.equal(child.ctx.signal.reason, 'own');
  });

  it('holds typed extension slots immutably', () => {
    const tenant = contextKey<string>('tenant');
    const priority = contextKey<number>('priority', 5);
    const base = createContext();
    const withTenant = base.set(tenant, 'acme');
    assert.equal(base.get(tenant), undefined);
    assert.equal(withTenant.get(tenant), 'acme');
    assert.equal(withTenant.get(priority), 5);
    assert.equal(withTenant.set(priority, 9).get(priority), 9);
    assert.equal(withTenant.with({ attempt: 2 }).get(tenant), 'acme', 'slots survive derivation');
  });

  it('merges metadata and keeps the rest', () => {
    const ctx = createContext({ metadata: { traceparent: 't', 'x-request-id': 'r' } });
    const child = ctx.with({ metadata: { 'x-request-id': 'r2' }, idempotent: false, attempt: 3 });
    assert.deepEqual(child.metadata, { traceparent: 't', 'x-request-id': 'r2' });
    assert.equal(child.idempotent, false);
    assert.equal(child.attempt, 3);
    assert.deepEqual(ctx.metadata, { traceparent: 't', 'x-request-id': 'r' });
  });

  it('withMetadata keeps the given record when it replaces every name, merges a copy otherwise', () => {
    const { ctx: scoped, cancel } = createContext({ metadata: { traceparent: 't' } }).withCancel(5_000);
    const over = { traceparent: 't2' };
    const child = scoped.withMetadata(over);
    assert.equal(child.metadata, over, 'nothing to merge: the record itself');
    assert.equal(child.deadline, scoped.deadline);
    const merged = child.withMetadata({ 'x-request-id': 'r' });
    assert.deepEqual(merged.metadata, { traceparent: 't2', 'x-request-id': 'r' });
    assert.deepEqual(child.metadata, { traceparent: 't2' }, 'the parent keeps its own');
    assert.deepEqual(scoped.metadata, { traceparent: 't' });
    const fromEmpty = createContext().withMetadata(over);
    assert.equal(fromEmpty.metadata, over);
    cancel('gone');
    assert.equal(merged.aborted, true, 'same scope as the parent');
  });

  it('withEndpoint sets the endpoint and keeps everything else, scope included', () => {
    const endpoint = staticEndpoint({ id: 'a', address: '127.0.0.1:1' });
    const { ctx: scoped, cancel } = createContext({
      timeoutMs: 50,
      metadata: { traceparent: 't' },
    }).withCancel();
    const child = scoped.with({ attempt: 2 }).withEndpoint(endpoint);
    assert.equal(child.endpoint, endpoint);
    assert.equal(child.attempt, 2);
    assert.equal(child.deadline, scoped.deadline);
    assert.deepEqual(child.metadata, { traceparent: 't' });
    assert.equal(scoped.endpoint, undefined);
    cancel('gone');
    assert.equal(child.aborted, true);
    assert.equal(child.abortReason, 'gone');
  });

  it('abort listeners fire in the order they were added, whatever was removed in between', () => {
    const { ctx, cancel } = createContext().withCancel();
    const seen: string[] = [];
    const remove = new Map<string, () => void>();
    for (const name of ['a', 'b', 'c', 'd'])
      remove.set(
        name,
        ctx.onAbort(() => seen.push(name)),
      );
    remove.get('a')!();
    remove.get('c')!();
    remove.get('c')!(); // a second call does nothing
    ctx.onAbort(() => seen.push('e'));
    cancel('stop');
    assert.deepEqual(seen, ['b', 'd', 'e']);
  });

  it('a long-lived scope whose children come and go keeps only the live ones', () => {
    const { ctx: root, cancel } = createContext().withCancel();
    const seen: string[] = [];
    root.onAbort(() => seen.push('root'));
    // Per-call children listen (hooking onto the root) and unregister when their call ends.
    // Every 250th call is still running when the scope is cancelled.
    for (let i = 0; i < 1_000; i++) {
      const { ctx: call } = root.withCancel();
      const stop = call.onAbort(() => seen.push(`call ${i}`));
      if (i % 250 !== 0) stop();
    }
    cancel('shutdown');
    assert.deepEqual(seen, ['root', 'call 0', 'call 250', 'call 500', 'call 750']);
  });

  it('a scope with no listeners left stops listening to the caller signal', () => {
    const external = new AbortController();
    const { ctx } = createContext({ signal: external.signal }).withCancel();
    const stop = ctx.onAbort(() => assert.fail('unregistered'));
    stop();
    const seen: unknown[] = [];
    ctx.onAbort((reason) => seen.push(reason));
    external.abort('caller gone');
    assert.deepEqual(seen, ['caller gone']);
  });
});
