import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  classifyError,
  createContext,
  type Endpoint,
  FakeClock,
  isMeshError,
  MeshError,
} from '@meshkit/core';
import { balance } from './balance.ts';
import { roundRobin } from './pickers/basic.ts';

describe('active health checks', () => {
  function setup(probeFor: (endpoint: Endpoint, signal: AbortSignal) => Promise<void>) {
    const clock = new FakeClock();
    const probes: { id: string; at: number }[] = [];
    const svc = balance<string, string>({
      service: 'users',
      endpoints: [
        { id: 'a', address: '10.0.0.1:80' },
        { id: 'b', address: '10.0.0.2:80' },
      ],
      connect: (endpoint) => async () => endpoint.id,
      picker: roundRobin(),
      clock,
      panicThresholdPercent: 0,
      healthCheck: {
        intervalMs: 1_000,
        jitter: 0.2,
        timeoutMs: 100,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
        random: () => 0.75, // +10% of the interval
        probe: (endpoint, signal) => {
          probes.push({ id: endpoint.id, at: clock.now() });
          return probeFor(endpoint, signal);
        },
      },
    });
    return { clock, svc, probes };
  }

  it('takes an endpoint out after unhealthyThreshold failures and back after healthyThreshold successes', async () => {
    let bHealthy = false;
    const { clock, svc, probes } = setup(async (e) => {
      if (e.id === 'b' && !bHealthy) throw new Error('503 from /healthz');
    });
    const ctx = createContext({ clock });
    await clock.flush();
    assert.deepEqual(
      probes.map((p) => p.id),
      ['a', 'b'],
      'first probes run at once',
    );
    assert.equal(svc.describe().endpoints[1]!.healthy, true, 'one failure is not enough');
    await clock.advance(1_100);
    assert.equal(probes.at(-1)!.at - probes[0]!.at, 1_100, 'interval plus jitter');
    assert.equal(svc.describe().endpoints[1]!.healthy, false);
    for (let i = 0; i < 4; i++) assert.equal(await svc('x', ctx), 'a');
    bHealthy = true;
    await clock.advance(1_100);
    assert.equal(svc.describe().endpoints[1]!.healthy, false, 'one success is not enough');
    await clock.advance(1_100);
    assert.equal(svc.describe().endpoints[1]!.healthy, true);
    const seen = new Set([await svc('x', ctx), await svc('x', ctx)]);
    assert.deepEqual([...seen].sort(), ['a', 'b']);
    await svc.close();
    assert.equal(clock.pendingTimers, 0);
  });

  it('fails a probe that does not settle within timeoutMs, aborting it', async () => {
    const aborted: unknown[] = [];
    const { clock, svc } = setup(
      (_e, signal) =>
        new Promise<void>((_, reject) => {
          signal.addEventListener('abort', () => {
            aborted.push(signal.reason);
            reject(signal.reason);
          });
        }),
    );
    await clock.advance(100);
    await clock.advance(1_100 + 100);
    assert.equal(aborted.length, 4);
    assert.ok(isMeshError(aborted[0]) && aborted[0].code === 'ERR_TIMEOUT');
    const err = await svc('x', createContext({ clock })).catch((e: unknown) => e);
    assert.ok(isMeshError(err));
    assert.equal(err.details.reason, 'all-unhealthy');
    assert.match(err.message, /all 2 endpoints are unhealthy/);
    await svc.close();
  });
});

describe('classifyError', () => {
  it('maps transport errors to outlier outcomes', () => {
    const http = (status: number) =>
      new MeshError('ERR_HTTP_STATUS', String(status), { details: { status } });
    const grpc = (grpcStatus: number) => new MeshError('ERR_GRPC_STATUS', 'x', { details: { grpcStatus } });
    assert.equal(classifyError(new MeshError('ERR_CONNECT', 'refused')), 'local');
    const refusedCertificate = new MeshError('ERR_CONNECT', 'certificate required', {
      details: { tlsHandshake: true, tlsAlert: 'certificate_required' },
    });
    assert.equal(classifyError(refusedCertificate), 'ignore', "the client's configuration, not the endpoint");
    assert.equal(classifyError(new MeshError('ERR_TIMEOUT', 't')), 'local');
    assert.equal(classifyError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), 'local');
    assert.equal(classifyError(http(503)), 'gateway');
    assert.equal(classifyError(http(500)), 'error');
    assert.equal(classifyError(http(429)), 'ignore');
    assert.equal(classifyError(grpc(14)), 'gateway');
    assert.equal(classifyError(grpc(13)), 'error');
    assert.equal(classifyError(grpc(5)), 'ignore');
    assert.equal(classifyError(new MeshError('ERR_CIRCUIT_OPEN', 'open')), 'ignore');
    assert.equal(classifyError(new DOMException('aborted', 'AbortError')), 'ignore');
    assert.equal(classifyError(new Error('handler threw')), 'error');
  });
});
