import type { InstanceHealth, InstanceInit, ServiceInstance } from './instance.ts';

/**
 * The Registry port: the one interface every discovery source implements (embedded SQLite, etcd,
 * Consul, DNS, static). Everything above it (endpoint streams, the balancer, the CLI) sees only this.
 */

/** Options for {@link Registry.lookup} and {@link Registry.watch}. */
export interface LookupOptions {
  /** Return only instances whose health is `passing`. Defaults to `true`. */
  readonly healthyOnly?: boolean;
}

/** One change of a watched service: the whole current set plus what changed since the last one. */
export interface RegistryChange {
  readonly service: string;
  /** Every matching instance now, sorted by id. */
  readonly instances: readonly ServiceInstance[];
  /** Instances that appeared, or whose data (address, labels, weight, health) changed. */
  readonly added: readonly ServiceInstance[];
  /** Instances that are gone (deregistered, expired, or filtered out as unhealthy). */
  readonly removed: readonly ServiceInstance[];
}

/**
 * A live view of one service: an async iterable of changes that starts with the current set (possibly
 * empty) and then yields whenever the set changes. Changes are coalesced: a slow reader gets the latest
 * set, never an unbounded backlog. `close()` (or `using`) ends the iteration and releases the source.
 */
export interface Watch extends AsyncIterable<RegistryChange>, Disposable {
  close(): void;
}

/** The handle of one registration: keeps itself alive (heartbeat or lease) until deregistered. */
export interface Registration extends AsyncDisposable {
  readonly instance: ServiceInstance;
  /** Reports the instance's own health (TTL-style checks); `critical` hides it from default lookups. */
  setHealth(health: InstanceHealth): Promise<void>;
  /** Stops the keep-alive and removes the entry; idempotent. */
  deregister(): Promise<void>;
}

/**
 * A service registry.
 *
 * Contract (checked by `registryConformance` in `@meshkit/testkit`):
 * - `register` validates the instance (empty name, bad port, ...) with `InvalidArgumentError` naming the
 *   field, rejects an id already live at another address, and re-registering the same id at the same
 *   address updates it;
 * - a registration keeps itself alive until `deregister()`/`close()`; an instance whose process dies
 *   disappears once its TTL passes;
 * - `lookup` of an unknown service is an empty list, never an error;
 * - `watch` yields the current set first, then every change.
 *
 * @example
 * ```ts
 * const registry = embeddedRegistry({ path: '.meshkit/registry.db' });
 * await using reg = await registry.register({ id: 'users-1', service: 'users', address: '127.0.0.1', port: 8080 });
 * for await (const change of registry.watch('users')) console.log(change.instances.map((i) => i.id));
 * ```
 */
export interface Registry {
  /** The source's kind, e.g. `embedded`, `etcd`, `static`. */
  readonly kind: string;
  register(instance: InstanceInit): Promise<Registration>;
  /** Removes instance `id` wherever it was registered; unknown ids are ignored. */
  deregister(id: string): Promise<void>;
  lookup(service: string, options?: LookupOptions): Promise<readonly ServiceInstance[]>;
  /**
   * The names of the services with at least one live instance (healthy or not), sorted. Optional: a
   * source that cannot enumerate (DNS) leaves it out; tools then need a service name.
   */
  services?(): Promise<readonly string[]>;
  watch(service: string, options?: LookupOptions): Watch;
  /** Deregisters this registry's own registrations, ends its watches and releases resources. */
  close(): Promise<void>;
}
