import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '@meshkit/core';
import { embeddedRegistry, type Registry, staticRegistry } from '@meshkit/discovery';
import { registryConformance } from './registry-conformance.ts';

registryConformance(
  'static',
  async () => {
    const registry = staticRegistry();
    return { registry, advance: async () => {}, close: () => registry.close() };
  },
  { shared: false },
);

const ttlMs = 1_000;
registryConformance(
  'embedded',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-registry-'));
    const path = join(dir, 'registry.db');
    const clock = new FakeClock(Date.now());
    const open = (): Registry => embeddedRegistry({ path, clock, ttlMs, pollIntervalMs: 50 });
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
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  { ttlMs, watchLatencyMs: 100 },
);
