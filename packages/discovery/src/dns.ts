import { Resolver } from 'node:dns/promises';
import {
  type Clock,
  checkInteger,
  checkNumber,
  checkString,
  ErrorCode,
  InvalidArgumentError,
  MeshError,
  systemClock,
  type TimerHandle,
} from '@meshkit/core';
import { type ServiceInstance, validateInstance } from './instance.ts';
import type { LookupOptions, Registration, Registry, Watch } from './registry.ts';
import { SnapshotWatch } from './watch.ts';

/** How one service name is found in DNS. */
export type DnsQuery =
  | {
      /** SRV records (Kubernetes headless services: `_http._tcp.users.default.svc.cluster.local`). */
      readonly type: 'srv';
      readonly name: string;
    }
  | {
      /** A and/or AAAA records of `name`, all on `port`. */
      readonly type: 'a' | 'aaaa' | 'a+aaaa';
      readonly name: string;
      readonly port: number;
    };

/** Options for {@link dnsRegistry}. */
export interface DnsRegistryOptions {
  /** How each service is queried. A service missing here is looked up as SRV `_http._tcp.<service>`. */
  readonly services?: Readonly<Record<string, DnsQuery>>;
  /** DNS servers (`ip` or `ip:port`). Defaults to the system's resolvers. */
  readonly servers?: readonly string[];
  /** Shortest time between re-resolutions, in ms, whatever the TTL says. Defaults to 1,000. */
  readonly minTtlMs?: number;
  /** Longest time between re-resolutions, in ms (also used when a TTL is unknown). Defaults to 30,000. */
  readonly maxTtlMs?: number;
  /** Per-query timeout, in ms. Defaults to 2,000. */
  readonly timeoutMs?: number;
  /** Time source for re-resolution. Defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * A read-only registry over DNS: A/AAAA records (one port for all) or SRV records (port and weight per
 * target; only the lowest priority is used, as SRV prescribes), re-resolved when the records' TTL ends.
 * `register` and `deregister` fail: instances are published in DNS itself (by Kubernetes, by a zone file).
 *
 * SRV targets are resolved to addresses; since `node:dns` does not report the TTL of SRV records
 * themselves, the re-resolution time is the shortest TTL among the targets' A/AAAA records.
 *
 * @example
 * ```ts
 * import { balance } from '@meshkit/balance';
 * import { httpTransport } from '@meshkit/http';
 * const registry = dnsRegistry({
 *   services: { users: { type: 'srv', name: '_http._tcp.users.default.svc.cluster.local' } },
 * });
 * balance({
 *   service: 'users',
 *   endpoints: endpointSets(registry, 'users'),
 *   connect: (endpoint) => httpTransport(endpoint.address),
 * });
 * ```
 */
export function dnsRegistry(options: DnsRegistryOptions = {}): Registry {
  return new DnsRegistry(options);
}

interface Resolved {
  readonly instances: ServiceInstance[];
  readonly ttlMs: number;
}

class DnsRegistry implements Registry {
  readonly kind = 'dns';
  readonly #services: Readonly<Record<string, DnsQuery>>;
  readonly #resolver: Resolver;
  readonly #minTtlMs: number;
  readonly #maxTtlMs: number;
  readonly #clock: Clock;
  readonly #watches = new Set<SnapshotWatch>();
  #closed = false;

  constructor(options: DnsRegistryOptions) {
    const services = options.services ?? {};
    for (const [service, query] of Object.entries(services)) {
      const field = `dnsRegistry.services.${service}`;
      if (
        query?.type !== 'srv' &&
        query?.type !== 'a' &&
        query?.type !== 'aaaa' &&
        query?.type !== 'a+aaaa'
      ) {
        throw new InvalidArgumentError(
          `${field}.type`,
          'must be "srv", "a", "aaaa" or "a+aaaa"',
          query?.type,
        );
      }
      checkString(`${field}.name`, query.name);
      if (query.type !== 'srv') checkInteger(`${field}.port`, query.port, 1, 65_535);
    }
    this.#services = { ...services };
    this.#minTtlMs = checkNumber('dnsRegistry.minTtlMs', options.minTtlMs ?? 1_000, 0);
    this.#maxTtlMs = checkNumber('dnsRegistry.maxTtlMs', options.maxTtlMs ?? 30_000, this.#minTtlMs);
    const timeout = checkNumber('dnsRegistry.timeoutMs', options.timeoutMs ?? 2_000, 1);
    this.#resolver = new Resolver({ timeout, tries: 2 });
    if (options.servers !== undefined) {
      try {
        this.#resolver.setServers([...options.servers]);
      } catch (err) {
        throw new InvalidArgumentError('dnsRegistry.servers', `are invalid: ${(err as Error).message}`);
      }
    }
    this.#clock = options.clock ?? systemClock;
  }

  async register(): Promise<Registration> {
    throw new MeshError(
      ErrorCode.INVALID_ARGUMENT,
      'the dns registry is read-only: publish instances in DNS',
    );
  }

  async deregister(): Promise<void> {
    throw new MeshError(
      ErrorCode.INVALID_ARGUMENT,
      'the dns registry is read-only: remove instances from DNS',
    );
  }

  #query(service: string): DnsQuery {
    return this.#services[service] ?? { type: 'srv', name: `_http._tcp.${service}` };
  }

  async #addresses(
    name: string,
    families: 'a' | 'aaaa' | 'a+aaaa',
  ): Promise<{ address: string; ttl: number }[]> {
    const out: { address: string; ttl: number }[] = [];
    const tolerate = (err: unknown) => {
      const code = (err as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
      throw err;
    };
    if (families !== 'aaaa')
      out.push(...(await this.#resolver.resolve4(name, { ttl: true }).catch(tolerate)));
    if (families !== 'a') out.push(...(await this.#resolver.resolve6(name, { ttl: true }).catch(tolerate)));
    return out;
  }

  async #resolve(service: string): Promise<Resolved> {
    const query = this.#query(service);
    const instances: ServiceInstance[] = [];
    let ttl = Infinity;
    if (query.type === 'srv') {
      let records: { name: string; port: number; priority: number; weight: number }[];
      try {
        records = await this.#resolver.resolveSrv(query.name);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'ENOTFOUND' && code !== 'ENODATA') throw err;
        records = [];
      }
      const best = Math.min(...records.map((r) => r.priority));
      for (const record of records.filter((r) => r.priority === best)) {
        for (const { address, ttl: t } of await this.#addresses(record.name, 'a+aaaa')) {
          ttl = Math.min(ttl, t * 1_000);
          instances.push(
            validateInstance({
              id: `${record.name}:${address}:${record.port}`,
              service,
              address,
              port: record.port,
              weight: Math.max(1, record.weight),
              labels: { host: record.name },
            }),
          );
        }
      }
    } else {
      for (const { address, ttl: t } of await this.#addresses(query.name, query.type)) {
        ttl = Math.min(ttl, t * 1_000);
        instances.push(
          validateInstance({ id: `${address}:${query.port}`, service, address, port: query.port }),
        );
      }
    }
    const ttlMs = Math.min(
      this.#maxTtlMs,
      Math.max(this.#minTtlMs, Number.isFinite(ttl) ? ttl : this.#maxTtlMs),
    );
    return { instances: instances.sort((a, b) => (a.id < b.id ? -1 : 1)), ttlMs };
  }

  async lookup(service: string, _options: LookupOptions = {}): Promise<readonly ServiceInstance[]> {
    checkString('lookup.service', service);
    this.#checkOpen();
    return (await this.#resolve(service)).instances;
  }

  watch(service: string, _options: LookupOptions = {}): Watch {
    checkString('watch.service', service);
    this.#checkOpen();
    let timer: TimerHandle | undefined;
    const watch = new SnapshotWatch(service, () => {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      this.#watches.delete(watch);
    });
    this.#watches.add(watch);
    const poll = async (): Promise<void> => {
      let next = this.#minTtlMs;
      try {
        const resolved = await this.#resolve(service);
        watch.push(resolved.instances);
        next = resolved.ttlMs;
      } catch {
        // DNS failing is not an empty set: keep the last one and ask again soon.
      }
      if (!watch.closed) timer = this.#clock.setTimeout(() => void poll(), next);
    };
    void poll();
    return watch;
  }

  #checkOpen(): void {
    if (this.#closed) throw new MeshError(ErrorCode.CLOSED, 'dns registry is closed');
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of [...this.#watches]) w.close();
    this.#resolver.cancel();
  }
}
