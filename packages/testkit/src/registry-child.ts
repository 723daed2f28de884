/**
 * A child process for the multi-process registry tests: opens a registry on a shared store, registers
 * the instances it was given, prints `ready`, and then keeps heartbeating until it is killed (SIGKILL:
 * its entries must expire) or told to stop (SIGTERM: it deregisters and exits 0). It exits by itself
 * after `maxLifetimeMs` so a failed test never leaves it behind.
 *
 *   node --conditions=@meshkit/source registry-child.ts '<RegistryChildConfig as JSON>'
 */
import { embeddedRegistry, etcdRegistry, type InstanceInit, type Registry } from '@meshkit/discovery';

/** How a child opens the store under test. */
export type RegistryStore =
  | { readonly kind: 'embedded'; readonly path: string; readonly ttlMs: number }
  | { readonly kind: 'etcd'; readonly url: string; readonly ttlMs: number; readonly prefix?: string };

/** The child's whole input. */
export interface RegistryChildConfig {
  readonly store: RegistryStore;
  readonly instances: readonly InstanceInit[];
  readonly maxLifetimeMs?: number;
}

async function open(store: RegistryStore): Promise<Registry> {
  if (store.kind === 'embedded') return embeddedRegistry({ path: store.path, ttlMs: store.ttlMs });
  return etcdRegistry({
    url: store.url,
    ttlMs: store.ttlMs,
    ...(store.prefix === undefined ? {} : { prefix: store.prefix }),
  });
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as RegistryChildConfig;
  const registry = await open(config.store);
  await Promise.all(config.instances.map((i) => registry.register(i)));
  const stop = setTimeout(() => process.exit(3), config.maxLifetimeMs ?? 60_000);
  process.once('SIGTERM', () => {
    clearTimeout(stop);
    registry.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  process.stdout.write('ready\n');
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`registry-child: ${String((err as Error)?.stack ?? err)}\n`);
    process.exit(2);
  });
}
