import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '@meshkit/core';
import { embeddedRegistry } from '@meshkit/discovery';
import { registryProcessConformance } from './registry-processes.ts';

const ttlMs = 1_000;
registryProcessConformance(
  'embedded',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-registry-'));
    const path = join(dir, 'registry.db');
    // The children heartbeat in real time; the parent reads expiry on a fake clock that first catches up
    // with real time, so the crash test needs no sleep.
    const clock = new FakeClock(Date.now());
    const registry = embeddedRegistry({ path, clock, ttlMs, pollIntervalMs: 50 });
    return {
      registry,
      store: { kind: 'embedded', path, ttlMs },
      advance: (ms) => clock.advance(Math.max(0, Date.now() - clock.now()) + ms),
      close: async () => {
        await registry.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  { ttlMs },
);
