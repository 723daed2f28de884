import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { FakeClock } from '@meshkit/core';
import { consulRegistry, type Registry } from '@meshkit/discovery';
import { type FakeConsul, startFakeConsul } from './fake-consul.ts';
import { registryConformance } from './registry-conformance.ts';

registryConformance(
  'consul (API-shaped fake agent)',
  async () => {
    const clock = new FakeClock(Date.now());
    const consul = await startFakeConsul({ clock });
    const open = (): Registry => consulRegistry({ url: consul.url, clock, waitMs: 5_000, retryDelayMs: 100 });
    const registry = open();
    const peers: Registry[] = [];
    return {
      registry,
      advance: (ms) => clock.advance(ms),
      peer: async () => {
        const peer = open();
        peers.push(peer);
        return peer;
      },
      close: async () => {
        for (const p of peers) await p.close();
        await registry.close();
        await consul.close();
      },
    };
  },
  { atomicRegister: false },
);

describe('consulRegistry', () => {
  let consul: FakeConsul;
  let clock: FakeClock;
  before(async () => {
    clock = new FakeClock(Date.now());
    consul = await startFakeConsul({ clock });
  });
  after(() => consul.close());

  it('registers with Consul’s documented shape: meta, tags, weights, heartbeat TTL and the instance’s own check', async () => {
    const registry = consulRegistry({
      url: consul.url,
      clock,
      ttlMs: 3_000,
      deregisterCriticalAfterMs: 90_000,
    });
    await registry.register({
      id: 'users-1',
      service: 'users',
      address: '10.0.0.7',
      port: 8080,
      protocols: ['http', 'grpc'],
      version: 'v2',
      labels: { zone: 'a' },
      weight: 3,
      check: { type: 'http', path: '/healthz', intervalMs: 5_000, timeoutMs: 1_000 },
    });
    assert.deepEqual(consul.bodies.get('/v1/agent/service/register'), {
      ID: 'users-1',
      Name: 'users',
      Address: '10.0.0.7',
      Port: 8080,
      Tags: ['http', 'grpc'],
      Meta: { zone: 'a', version: 'v2', 'meshkit-version': 'v2' },
      Weights: { Passing: 3, Warning: 1 },
      Checks: [
        {
          CheckID: 'meshkit:users-1:heartbeat',
          Name: 'users heartbeat',
          TTL: '3s',
          Status: 'passing',
          DeregisterCriticalServiceAfter: '90s',
        },
        {
          CheckID: 'meshkit:users-1:http',
          Name: 'users http check',
          DeregisterCriticalServiceAfter: '90s',
          Interval: '5s',
          Timeout: '1s',
          HTTP: 'http://10.0.0.7:8080/healthz',
          Method: 'GET',
        },
      ],
    });
    assert.deepEqual(
      await registry.lookup('users'),
      [],
      'Consul runs the HTTP check first: critical until it passes',
    );
    consul.setCheck('meshkit:users-1:http', 'passing');
    const [found] = await registry.lookup('users');
    assert.equal(found?.version, 'v2');
    assert.deepEqual(found?.labels, { zone: 'a', version: 'v2' });
    assert.deepEqual(found?.protocols, ['http', 'grpc']);
    assert.equal(found?.weight, 3);
    await registry.close();
    assert.ok(consul.requests.includes('PUT /v1/agent/service/deregister/users-1'));
  });

  it('heartbeats its TTL check every third of the TTL', async () => {
    const registry = consulRegistry({ url: consul.url, clock, ttlMs: 3_000 });
    await registry.register({ id: 'beat-1', service: 'beat', address: '10.0.0.5', port: 80 });
    const pass = 'PUT /v1/agent/check/pass/meshkit%3Abeat-1%3Aheartbeat';
    assert.equal(consul.requests.filter((r) => r === pass).length, 0);
    for (let beat = 1; beat <= 4; beat++) {
      const sent = once(consul.events, 'request');
      await clock.advance(1_000);
      assert.equal(((await sent) as string[])[0], pass);
    }
    // 4 s on the agent's clock: the 3 s TTL would have run out without the beats.
    assert.equal((await registry.lookup('beat')).length, 1);
    await registry.close();
  });

  it('watches with blocking queries carrying the last X-Consul-Index', async () => {
    const registry = consulRegistry({ url: consul.url, clock, waitMs: 5_000 });
    const watch = registry.watch('orders');
    const it = watch[Symbol.asyncIterator]();
    assert.deepEqual((await it.next()).value?.instances, []);
    const next = it.next();
    await registry.register({ id: 'orders-1', service: 'orders', address: '10.0.0.8', port: 9000 });
    assert.deepEqual(
      (await next).value?.instances.map((i: { id: string }) => i.id),
      ['orders-1'],
    );
    const queries = consul.requests.filter((r) => r.startsWith('GET /v1/health/service/orders'));
    assert.match(queries[0]!, /\?passing=true$/);
    assert.match(queries[1]!, /\?passing=true&index=\d+&wait=5s$/);
    watch.close();
    await registry.close();
  });

  it('a crashed instance turns critical when its heartbeat TTL runs out and is then deregistered', async () => {
    // The crashed process: its heartbeats run on a clock that never moves, so none is ever sent, and it
    // never deregisters, exactly as after SIGKILL.
    const crashed = consulRegistry({
      url: consul.url,
      ttlMs: 1_000,
      deregisterCriticalAfterMs: 1_000,
      clock: new FakeClock(),
    });
    const observer = consulRegistry({ url: consul.url, clock });
    await crashed.register({ id: 'pay-1', service: 'payments', address: '10.0.0.9', port: 7000 });
    assert.equal((await observer.lookup('payments')).length, 1);
    await clock.advance(1_100);
    assert.deepEqual(await observer.lookup('payments'), [], 'critical: hidden from passing lookups');
    assert.equal((await observer.lookup('payments', { healthyOnly: false }))[0]?.health, 'critical');
    await clock.advance(1_100);
    assert.deepEqual(
      await observer.lookup('payments', { healthyOnly: false }),
      [],
      'reaped after DeregisterCriticalServiceAfter',
    );
    await observer.close();
  });

  it('validates its options', () => {
    assert.throws(() => consulRegistry({ url: 'nope' }), /consulRegistry\.url must be a URL/);
    assert.throws(() => consulRegistry({ ttlMs: 10 }), /consulRegistry\.ttlMs must be >= 1000/);
  });
});
