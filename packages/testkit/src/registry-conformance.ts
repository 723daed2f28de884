import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isMeshError } from '@meshkit/core';
import type { InstanceInit, Registry, RegistryChange } from '@meshkit/discovery';

/**
 * The contract every registry source must meet, as a `node:test` suite. Run it from a test file:
 *
 * ```ts
 * registryConformance('embedded', async () => { ... return { registry, advance, peer, close }; }, { ttlMs: 1_000 });
 * ```
 */

/** What a source's test provides to {@link registryConformance}. */
export interface RegistryHarness {
  /** The registry under test. */
  readonly registry: Registry;
  /**
   * Lets `ms` of the registry's time pass: `FakeClock.advance` for sources on a clock, a real wait for
   * servers with their own timers (etcd).
   */
  advance(ms: number): Promise<void>;
  /** Opens another registry on the same store, as another process would. Omit when there is none. */
  peer?(): Promise<Registry>;
  /** Releases everything the harness created. */
  close(): Promise<void>;
}

/** Options for {@link registryConformance}. */
export interface RegistryConformanceOptions {
  /** The TTL the harness configured, in ms; enables the keep-alive test. Omit for sources without TTLs. */
  readonly ttlMs?: number;
  /** How soon a watch must see a peer's change, in registry time (ms). Defaults to 100. */
  readonly watchLatencyMs?: number;
  /**
   * Whether the duplicate-id check and the write are one atomic step, so that of two concurrent
   * registrations of one id at different addresses exactly one wins. Defaults to `true`; a source whose
   * backend offers no compare-and-set (Consul's agent API) says `false`.
   */
  readonly atomicRegister?: boolean;
  /**
   * Whether several registry instances share one store, so a peer's change reaches a watcher. Defaults
   * to `true`, and the harness must then provide `peer`; a source that lives in one process (static)
   * says `false`.
   */
  readonly shared?: boolean;
}

let unique = 0;
/** A service name no other test uses, so suites can share one store. */
function freshService(): string {
  unique += 1;
  return `svc-${process.pid}-${Date.now().toString(36)}-${unique}`;
}

function instance(service: string, id: string, extra: Partial<InstanceInit> = {}): InstanceInit {
  return { id, service, address: '127.0.0.1', port: 8080, ...extra };
}

async function expectInvalid(run: () => Promise<unknown>, field: string): Promise<void> {
  await assert.rejects(run, (err: unknown) => {
    assert.ok(isMeshError(err), `expected a MeshError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_INVALID_ARGUMENT');
    assert.equal(err.details.field, field);
    return true;
  });
}

/** Resolves with the iterator's next change if it arrives within a few turns of the event loop. */
async function soon<T>(next: Promise<IteratorResult<T>>): Promise<IteratorResult<T> | 'pending'> {
  let settled: IteratorResult<T> | 'pending' = 'pending';
  void next.then((r) => {
    settled = r;
  });
  for (let i = 0; i < 20 && settled === 'pending'; i++) await new Promise((r) => setImmediate(r));
  return settled;
}

/**
 * Declares the registry conformance suite under `describe(name)`. `makeHarness` is called once for the
 * suite; every test uses its own service name, so the store may hold other data.
 */
export function registryConformance(
  name: string,
  makeHarness: () => Promise<RegistryHarness>,
  options: RegistryConformanceOptions = {},
): void {
  const latency = options.watchLatencyMs ?? 100;
  describe(`registry conformance: ${name}`, () => {
    let h: RegistryHarness;
    before(async () => {
      h = await makeHarness();
    });
    after(async () => {
      await h.close();
    });

    it('registers, normalises and looks up an instance', async () => {
      const service = freshService();
      const reg = await h.registry.register(
        instance(service, `${service}-a`, { version: 'v2', labels: { zone: 'a' }, weight: 3 }),
      );
      const found = await h.registry.lookup(service);
      assert.equal(found.length, 1);
      const got = found[0]!;
      assert.equal(got.id, `${service}-a`);
      assert.equal(got.address, '127.0.0.1');
      assert.equal(got.port, 8080);
      assert.deepEqual(got.protocols, ['http']);
      assert.deepEqual(got.labels, { zone: 'a', version: 'v2' });
      assert.equal(got.weight, 3);
      assert.equal(got.health, 'passing');
      assert.deepEqual(reg.instance, got);
      await reg.deregister();
      assert.deepEqual(await h.registry.lookup(service), []);
    });

    it('lists the services with live instances, when the source can (services())', async (t) => {
      const services = h.registry.services?.bind(h.registry);
      if (services === undefined) return t.skip(`${name} cannot enumerate services`);
      const service = freshService();
      assert.ok(!(await services()).includes(service));
      const reg = await h.registry.register(instance(service, `${service}-a`));
      const listed = await services();
      assert.ok(listed.includes(service));
      assert.deepEqual(listed, [...listed].sort());
      await reg.deregister();
      assert.ok(!(await services()).includes(service));
    });

    it('returns an empty list for a service nobody registered', async () => {
      assert.deepEqual(await h.registry.lookup(freshService()), []);
    });

    it('rejects bad input with an error naming the field', async () => {
      const service = freshService();
      await expectInvalid(() => h.registry.register(instance('', 'x')), 'instance.service');
      await expectInvalid(() => h.registry.register(instance(service, '')), 'instance.id');
      await expectInvalid(() => h.registry.register(instance(service, 'x', { port: 0 })), 'instance.port');
      await expectInvalid(
        () => h.registry.register(instance(service, 'x', { port: 65_536 })),
        'instance.port',
      );
      await expectInvalid(() => h.registry.register(instance(service, 'x', { port: 80.5 })), 'instance.port');
      await expectInvalid(
        () => h.registry.register(instance(service, 'x', { address: '' })),
        'instance.address',
      );
      await expectInvalid(
        () => h.registry.register(instance(service, 'x', { weight: -1 })),
        'instance.weight',
      );
      await expectInvalid(() => h.registry.lookup(''), 'lookup.service');
      assert.deepEqual(await h.registry.lookup(service, { healthyOnly: false }), []);
    });

    it('rejects a live id at another address, and updates it at the same address', async () => {
      const service = freshService();
      const id = `${service}-dup`;
      const reg = await h.registry.register(instance(service, id));
      await expectInvalid(() => h.registry.register(instance(service, id, { port: 9090 })), 'instance.id');
      await h.registry.register(instance(service, id, { labels: { zone: 'b' } }));
      const [got] = await h.registry.lookup(service);
      assert.deepEqual(got?.labels, { zone: 'b' });
      assert.equal(got?.port, 8080, 'the rejected registration left no trace');
      await reg.deregister();
      await h.registry.deregister(id);
    });

    if (options.atomicRegister ?? true) {
      it('of two concurrent registrations of one id at different addresses, exactly one wins', async () => {
        const service = freshService();
        const id = `${service}-race`;
        const results = await Promise.allSettled([
          h.registry.register(instance(service, id, { port: 9001 })),
          h.registry.register(instance(service, id, { port: 9002 })),
        ]);
        assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
        const won = results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{
          instance: { port: number };
        }>;
        const found = await h.registry.lookup(service);
        assert.deepEqual(
          found.map((i) => i.port),
          [won.value.instance.port],
        );
        await h.registry.deregister(id);
      });
    }

    it('deregisters by id; unknown ids and repeated deregistration are harmless', async () => {
      const service = freshService();
      const a = await h.registry.register(instance(service, `${service}-a`));
      await h.registry.register(instance(service, `${service}-b`, { port: 8081 }));
      await h.registry.deregister(`${service}-b`);
      await h.registry.deregister(`${service}-missing`);
      assert.deepEqual(
        (await h.registry.lookup(service)).map((i) => i.id),
        [`${service}-a`],
      );
      await a.deregister();
      await a.deregister();
      assert.deepEqual(await h.registry.lookup(service), []);
    });

    it('hides critical instances from default lookups and watches', async () => {
      const service = freshService();
      const reg = await h.registry.register(instance(service, `${service}-a`));
      const watch = h.registry.watch(service);
      const it = watch[Symbol.asyncIterator]();
      assert.equal((await it.next()).value?.instances.length, 1);
      const next = it.next();
      await reg.setHealth('critical');
      await h.advance(latency);
      const change = await next;
      assert.deepEqual(change.value?.instances, []);
      assert.deepEqual(
        change.value?.removed.map((i: { id: string }) => i.id),
        [`${service}-a`],
      );
      assert.deepEqual(await h.registry.lookup(service), []);
      const all = await h.registry.lookup(service, { healthyOnly: false });
      assert.equal(all[0]?.health, 'critical');
      await reg.setHealth('passing');
      assert.equal((await h.registry.lookup(service)).length, 1);
      watch.close();
      await reg.deregister();
    });

    it('watch yields the current set first, then each change with what was added and removed', async () => {
      const service = freshService();
      await h.registry.register(instance(service, `${service}-a`));
      const watch = h.registry.watch(service);
      const it = watch[Symbol.asyncIterator]();
      const first = (await it.next()).value as RegistryChange;
      assert.deepEqual(
        first.instances.map((i) => i.id),
        [`${service}-a`],
      );
      const second = it.next();
      await h.registry.register(instance(service, `${service}-b`, { port: 8081 }));
      await h.advance(latency);
      const added = (await second).value as RegistryChange;
      assert.deepEqual(
        added.instances.map((i) => i.id),
        [`${service}-a`, `${service}-b`],
      );
      assert.deepEqual(
        added.added.map((i) => i.id),
        [`${service}-b`],
      );
      assert.deepEqual(added.removed, []);
      const third = it.next();
      await h.registry.deregister(`${service}-a`);
      await h.advance(latency);
      const removed = (await third).value as RegistryChange;
      assert.deepEqual(
        removed.removed.map((i) => i.id),
        [`${service}-a`],
      );
      assert.deepEqual(
        removed.instances.map((i) => i.id),
        [`${service}-b`],
      );
      const last = it.next();
      watch.close();
      assert.equal((await last).done, true, 'close() ends the iteration');
      await h.registry.deregister(`${service}-b`);
    });

    it('watch of an empty service starts with an empty set', async () => {
      const watch = h.registry.watch(freshService());
      const first = await watch[Symbol.asyncIterator]().next();
      assert.deepEqual(first.value?.instances, []);
      watch.close();
    });

    it('many concurrent registrations all land', async () => {
      const service = freshService();
      const regs = await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          h.registry.register(instance(service, `${service}-${i}`, { port: 9000 + i })),
        ),
      );
      assert.equal((await h.registry.lookup(service)).length, 25);
      await Promise.all(regs.map((r) => r.deregister()));
      assert.equal((await h.registry.lookup(service)).length, 0);
    });

    if (options.ttlMs !== undefined) {
      const ttl = options.ttlMs;
      it('keeps a registration alive past its TTL with heartbeats', async () => {
        const service = freshService();
        const reg = await h.registry.register(instance(service, `${service}-a`));
        await h.advance(ttl * 3);
        assert.equal((await h.registry.lookup(service)).length, 1);
        await reg.deregister();
      });
    }

    if (options.shared !== false)
      it('sees a peer’s registration within the watch latency, and its removal on close', async () => {
        assert.ok(h.peer !== undefined, 'a shared source must give the harness a peer');
        const service = freshService();
        const peer = await h.peer();
        const watch = h.registry.watch(service);
        const it: AsyncIterator<RegistryChange> = watch[Symbol.asyncIterator]();
        assert.deepEqual((await it.next()).value?.instances, []);
        const next = it.next();
        await peer.register(instance(service, `${service}-p`));
        await h.advance(latency);
        const seen = await soon(next);
        assert.notEqual(seen, 'pending', `the change was not seen within ${latency} ms`);
        assert.deepEqual(
          (seen as IteratorYieldResult<RegistryChange>).value.instances.map((i) => i.id),
          [`${service}-p`],
        );
        const gone = it.next();
        await peer.close();
        await h.advance(latency);
        assert.deepEqual((await gone).value?.instances, [], 'close() deregisters the peer’s own instances');
        watch.close();
      });
  });
}
