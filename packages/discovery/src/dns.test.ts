import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeClock, isMeshError } from '@meshkit/core';
import { dnsRegistry } from './dns.ts';
import type { RegistryChange } from './registry.ts';
import { startDnsServer, type TestDnsServer } from './test-support/dns-server.ts';

/** Waits for real I/O (a UDP answer) by turns of the event loop, never by time. */
async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !done(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(done(), 'the condition never held');
}

describe('dnsRegistry', () => {
  let dns: TestDnsServer;
  before(async () => {
    dns = await startDnsServer();
    dns.records.set('users.test', [
      { type: 'A', address: '10.0.0.1', ttl: 30 },
      { type: 'A', address: '10.0.0.2', ttl: 5 },
      { type: 'AAAA', address: 'fd00::1', ttl: 30 },
    ]);
    dns.records.set('_grpc._tcp.orders.test', [
      { type: 'SRV', target: 'orders-0.test', port: 9000, priority: 1, weight: 3, ttl: 30 },
      { type: 'SRV', target: 'orders-1.test', port: 9001, priority: 1, weight: 1, ttl: 30 },
      { type: 'SRV', target: 'orders-backup.test', port: 9002, priority: 2, weight: 1, ttl: 30 },
    ]);
    dns.records.set('orders-0.test', [{ type: 'A', address: '10.1.0.1', ttl: 10 }]);
    dns.records.set('orders-1.test', [{ type: 'A', address: '10.1.0.2', ttl: 10 }]);
    dns.records.set('orders-backup.test', [{ type: 'A', address: '10.1.0.9', ttl: 10 }]);
  });
  after(() => dns.close());

  const registry = (clock = new FakeClock()) =>
    dnsRegistry({
      servers: [dns.address],
      clock,
      services: {
        users: { type: 'a+aaaa', name: 'users.test', port: 8080 },
        users4: { type: 'a', name: 'users.test', port: 8080 },
        orders: { type: 'srv', name: '_grpc._tcp.orders.test' },
        missing: { type: 'a', name: 'nothing.test', port: 80 },
      },
    });

  it('resolves A and AAAA records to instances on the configured port', async () => {
    const r = registry();
    const found = await r.lookup('users');
    assert.deepEqual(
      found.map((i) => [i.address, i.port]),
      [
        ['10.0.0.1', 8080],
        ['10.0.0.2', 8080],
        ['fd00::1', 8080],
      ],
    );
    assert.equal((await r.lookup('users4')).length, 2);
    assert.deepEqual(await r.lookup('missing'), [], 'NXDOMAIN is an empty set');
    await r.close();
  });

  it('resolves SRV records: lowest priority only, port and weight per target', async () => {
    const r = registry();
    const found = await r.lookup('orders');
    assert.deepEqual(
      found.map((i) => [i.address, i.port, i.weight, i.labels.host]),
      [
        ['10.1.0.1', 9000, 3, 'orders-0.test'],
        ['10.1.0.2', 9001, 1, 'orders-1.test'],
      ],
    );
    await r.close();
  });

  it('re-resolves when the shortest TTL ends and yields the change', async () => {
    const clock = new FakeClock();
    const r = registry(clock);
    const watch = r.watch('users4');
    const it = watch[Symbol.asyncIterator]();
    assert.equal(((await it.next()).value as RegistryChange).instances.length, 2);
    dns.records.set('users.test', [{ type: 'A', address: '10.0.0.3', ttl: 5 }]);
    const next = it.next();
    const asked = dns.queries.length;
    await clock.advance(4_999);
    assert.equal(dns.queries.length, asked, 'no query before the 5 s TTL ends');
    await clock.advance(1);
    const change = (await next).value as RegistryChange;
    assert.deepEqual(
      change.instances.map((i) => i.address),
      ['10.0.0.3'],
    );
    assert.deepEqual(
      change.removed.map((i) => i.address),
      ['10.0.0.1', '10.0.0.2'],
    );
    watch.close();
    assert.equal(clock.pendingTimers, 0, 'closing the watch stops re-resolution');
    await r.close();
  });

  it('keeps the last set while DNS fails, asks again after minTtlMs, and takes the answer once DNS is back', async () => {
    const clock = new FakeClock();
    const r = dnsRegistry({
      servers: [dns.address],
      clock,
      minTtlMs: 500,
      services: { flaky: { type: 'a', name: 'flaky.test', port: 80 } },
    });
    dns.records.set('flaky.test', [{ type: 'A', address: '10.9.0.1', ttl: 1 }]);
    const watch = r.watch('flaky');
    const it = watch[Symbol.asyncIterator]();
    assert.equal(((await it.next()).value as RegistryChange).instances.length, 1);
    dns.failing.add('flaky.test');
    await assert.rejects(r.lookup('flaky'), /SERVFAIL|ESERVFAIL/);
    const next = it.next();
    const asked = () => dns.queries.filter((q) => q === 'A flaky.test').length;
    const before = asked();
    await clock.advance(1_000); // TTL over: re-resolve, fails, keeps the set
    await waitFor(() => asked() > before);
    const afterFailure = asked();
    dns.failing.delete('flaky.test');
    dns.records.set('flaky.test', [{ type: 'A', address: '10.9.0.2', ttl: 1 }]);
    await clock.advance(500); // the retry after minTtlMs
    const change = (await next).value as RegistryChange;
    assert.ok(asked() > afterFailure);
    assert.deepEqual(
      change.instances.map((i) => i.address),
      ['10.9.0.2'],
      'the failed resolution yielded nothing in between',
    );
    watch.close();
    await r.close();
  });

  it('is read-only and validates its options', async () => {
    const r = registry();
    await assert.rejects(
      r.register({ id: 'x', service: 'users', address: '10.0.0.1', port: 80 }),
      (err: unknown) => isMeshError(err) && /read-only/.test(err.message),
    );
    await r.close();
    assert.throws(
      () => dnsRegistry({ services: { x: { type: 'mx' } as never } }),
      /dnsRegistry\.services\.x\.type must be "srv", "a", "aaaa" or "a\+aaaa"/,
    );
    assert.throws(
      () => dnsRegistry({ services: { x: { type: 'a', name: 'x', port: 0 } } }),
      /dnsRegistry\.services\.x\.port must be an integer between 1 and 65535/,
    );
    assert.throws(() => dnsRegistry({ servers: ['not an ip'] }), /dnsRegistry\.servers are invalid/);
  });
});
