import { ErrorCode, InvalidArgumentError, MeshError } from '@meshkit/core';
import { checkString } from '@meshkit/core/internal';
import {
  duplicateIdError,
  filterHealthy,
  hostPort,
  type InstanceHealth,
  type InstanceInit,
  type ServiceInstance,
  validateInstance,
} from './instance.ts';
import type { LookupOptions, Registration, Registry, Watch } from './registry.ts';
import { SnapshotWatch } from './watch.ts';

/** Options for {@link staticRegistry}. */
export interface StaticRegistryOptions {
  /** The instances from configuration; validated at construction. Defaults to none. */
  readonly instances?: readonly InstanceInit[];
}

/**
 * A registry held in this process's memory, seeded from configuration: for fixed deployments, tests,
 * and services that call a known list of hosts. `register` adds to it for this process only; there is
 * no TTL, since nothing outside the process can die without the process knowing.
 *
 * @example
 * ```ts
 * const registry = staticRegistry({
 *   instances: [{ id: 'users-1', service: 'users', address: '10.0.0.7', port: 8080 }],
 * });
 * ```
 */
export function staticRegistry(options: StaticRegistryOptions = {}): Registry {
  return new StaticRegistry(options);
}

class StaticRegistry implements Registry {
  readonly kind = 'static';
  readonly #instances = new Map<string, ServiceInstance>();
  readonly #watches = new Map<string, Set<{ watch: SnapshotWatch; healthyOnly: boolean }>>();
  #closed = false;

  constructor(options: StaticRegistryOptions) {
    const list = options.instances ?? [];
    if (!Array.isArray(list)) {
      throw new InvalidArgumentError('staticRegistry.instances', 'must be an array', list);
    }
    for (const [i, init] of list.entries())
      this.#put(validateInstance(init, `staticRegistry.instances[${i}]`));
  }

  #put(instance: ServiceInstance): void {
    const existing = this.#instances.get(instance.id);
    if (existing !== undefined && hostPort(existing) !== hostPort(instance)) {
      throw duplicateIdError('instance', instance.id, hostPort(existing), hostPort(instance));
    }
    this.#instances.set(instance.id, instance);
    this.#notify(instance.service);
    if (existing !== undefined && existing.service !== instance.service) this.#notify(existing.service);
  }

  async register(init: InstanceInit): Promise<Registration> {
    this.#checkOpen();
    const instance = validateInstance(init);
    this.#put(instance);
    let live = true;
    return {
      instance,
      setHealth: async (health: InstanceHealth) => {
        const current = this.#instances.get(instance.id);
        if (!live || current === undefined) return;
        this.#instances.set(instance.id, { ...current, health });
        this.#notify(instance.service);
      },
      deregister: async () => {
        if (!live) return;
        live = false;
        await this.deregister(instance.id);
      },
      [Symbol.asyncDispose]: async () => {
        live = false;
        await this.deregister(instance.id);
      },
    };
  }

  async deregister(id: string): Promise<void> {
    checkString('deregister.id', id);
    const existing = this.#instances.get(id);
    if (existing === undefined) return;
    this.#instances.delete(id);
    this.#notify(existing.service);
  }

  async services(): Promise<readonly string[]> {
    return [...new Set([...this.#instances.values()].map((i) => i.service))].sort();
  }

  async lookup(service: string, options: LookupOptions = {}): Promise<readonly ServiceInstance[]> {
    checkString('lookup.service', service);
    return this.#list(service, options.healthyOnly ?? true);
  }

  #list(service: string, healthyOnly: boolean): readonly ServiceInstance[] {
    const all = [...this.#instances.values()].filter((i) => i.service === service);
    return filterHealthy(all, healthyOnly).toSorted((a, b) => (a.id < b.id ? -1 : 1));
  }

  watch(service: string, options: LookupOptions = {}): Watch {
    checkString('watch.service', service);
    this.#checkOpen();
    const healthyOnly = options.healthyOnly ?? true;
    let set = this.#watches.get(service);
    if (set === undefined) {
      set = new Set();
      this.#watches.set(service, set);
    }
    const entry = {
      healthyOnly,
      watch: new SnapshotWatch(service, () => {
        set.delete(entry);
      }),
    };
    set.add(entry);
    entry.watch.push(this.#list(service, healthyOnly));
    return entry.watch;
  }

  #notify(service: string): void {
    for (const { watch, healthyOnly } of this.#watches.get(service) ?? []) {
      watch.push(this.#list(service, healthyOnly));
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new MeshError(ErrorCode.CLOSED, 'static registry is closed');
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const set of this.#watches.values()) for (const { watch } of set) watch.close();
    this.#watches.clear();
  }
}
