import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FakeClock } from '@meshkit/core';
import { staticRegistry } from '@meshkit/discovery';
import { serveMetrics } from '../test-support/mesh-metrics.ts';
import { Collector } from './collector.ts';
import { parseExposition } from './prom-text.ts';

/**
 * `@meshkit/observability`'s `metrics()` registry after 40 calls of an `httpClient` (service
 * `user-service`, two endpoints, retries on) where one endpoint answers 503: its real exposition.
 */
const fixture = readFileSync(join(import.meta.dirname, 'fixtures', 'observability-http-client.prom'), 'utf8');

describe('an exposition written by @meshkit/observability', () => {
  it('maps onto edges, endpoints and retries, and agrees with its own amplification ratio', async (t) => {
    const clock = new FakeClock();
    // The baseline scrape holds the families and no series; the next one holds them all.
    let text = fixture
      .split('\n')
      .filter((line) => line.startsWith('#'))
      .join('\n');
    const server = await serveMetrics(() => Promise.resolve(text));
    t.after(() => server.close());
    const registry = staticRegistry({
      instances: [{ id: 'gateway-1', service: 'gateway', address: '127.0.0.1', port: server.port }],
    });
    const collector = new Collector({ registry, services: ['gateway'], clock });
    await collector.tick();
    text = fixture;
    await clock.advance(2_000);
    const snapshot = await collector.tick();

    const edge = snapshot.edges.find((e) => e.from === 'gateway' && e.to === 'user-service');
    assert.equal(edge?.rate, 41 / 2); // 40 first tries, 1 retry
    assert.equal(edge?.errorRatio, 1 / 41);
    assert.ok(edge?.p99Ms !== null && edge?.p99Ms !== undefined && edge.p99Ms > 0);

    const endpoints = snapshot.services.find((s) => s.name === 'user-service')?.endpoints ?? [];
    assert.deepEqual(
      endpoints.map((e) => [e.rate * 2, e.errorRatio, e.breaker]),
      [
        [1, 1, 'closed'],
        [40, 0, 'closed'],
      ].sort((a, b) => Number(a[0]) - Number(b[0])),
    );

    const retry = snapshot.retries.find((r) => r.service === 'user-service');
    const ratio = parseExposition(fixture).samples.find(
      (s) => s.name === 'meshkit_client_retry_amplification_ratio',
    )?.value;
    assert.equal(ratio, 1.025);
    assert.equal(retry?.amplification, ratio);
  });
});
