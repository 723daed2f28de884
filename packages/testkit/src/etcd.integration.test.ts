import { etcdRegistry, type Registry } from '@meshkit/discovery';
import { registryConformance } from './registry-conformance.ts';
import { registryProcessConformance } from './registry-processes.ts';

/**
 * The registry contract against a real etcd (started by scripts/services/up-etcd.sh on 127.0.0.1:23790,
 * or MESHKIT_ETCD_URL). Fails, never skips, when etcd is not reachable.
 */
const url = process.env.MESHKIT_ETCD_URL ?? 'http://127.0.0.1:23790';
const ttlMs = 2_000; // etcd's smallest lease TTL
const run = `${process.pid}-${Date.now().toString(36)}`;
const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function reachable(): Promise<void> {
  try {
    const res = await fetch(`${url}/version`, { signal: AbortSignal.timeout(3_000) });
    if (!res.ok) throw new Error(`status ${res.status}`);
  } catch (err) {
    throw new Error(
      `etcd is not reachable at ${url} (run scripts/services/up.sh): ${(err as Error).message}`,
    );
  }
}

registryConformance(
  'etcd',
  async () => {
    await reachable();
    const prefix = `/meshkit-test/${run}/conformance/`;
    const open = (): Registry => etcdRegistry({ url, prefix, ttlMs, reconnectDelayMs: 200 });
    const registry = open();
    const peers: Registry[] = [];
    return {
      registry,
      advance: wait,
      peer: async () => {
        const peer = open();
        peers.push(peer);
        return peer;
      },
      close: async () => {
        for (const p of peers) await p.close();
        await registry.close();
      },
    };
  },
  { ttlMs, watchLatencyMs: 500 },
);

registryProcessConformance(
  'etcd',
  async () => {
    await reachable();
    const prefix = `/meshkit-test/${run}/processes/`;
    const registry = etcdRegistry({ url, prefix, ttlMs });
    return {
      registry,
      store: { kind: 'etcd', url, ttlMs, prefix },
      advance: wait,
      close: () => registry.close(),
    };
  },
  { ttlMs, watchLatencyMs: 1_000 },
);
