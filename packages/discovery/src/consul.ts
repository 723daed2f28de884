import {
  type Clock,
  ErrorCode,
  InvalidArgumentError,
  MeshError,
  sleep,
  systemClock,
  type TimerHandle,
} from '@meshkit/core';
import { checkNumber, checkString } from '@meshkit/core/internal';
import {
  duplicateIdError,
  type HealthCheckSpec,
  hostPort,
  type InstanceHealth,
  type InstanceInit,
  type ServiceInstance,
  validateInstance,
} from './instance.ts';
import { registrationHandle } from './registration.ts';
import type { LookupOptions, Registration, Registry, Watch } from './registry.ts';
import { SnapshotWatch } from './watch.ts';

/** Options for {@link consulRegistry}. */
export interface ConsulRegistryOptions {
  /** The local Consul agent's HTTP address. Defaults to `http://127.0.0.1:8500`. */
  readonly url?: string;
  /** ACL token sent as `X-Consul-Token`, if any. */
  readonly token?: string;
  /** TTL of the heartbeat check every registration carries, in ms. Defaults to 10,000. */
  readonly ttlMs?: number;
  /** `DeregisterCriticalServiceAfter`: a crashed instance is removed this long after turning critical. Defaults to 60,000. */
  readonly deregisterCriticalAfterMs?: number;
  /** `wait` of blocking queries, in ms. Defaults to 30,000. */
  readonly waitMs?: number;
  /** Pause before retrying a failed blocking query, in ms. Defaults to 1,000. */
  readonly retryDelayMs?: number;
  /** Time source for heartbeats and retries. Defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * A registry on Consul's HTTP API, through the local agent: `PUT /v1/agent/service/register` (with a
 * TTL check this registry heartbeats via `PUT /v1/agent/check/pass/...`, plus the instance's own HTTP,
 * TCP or gRPC check, both with `DeregisterCriticalServiceAfter`), `PUT /v1/agent/service/deregister/:id`,
 * and `GET /v1/health/service/:name?passing` with blocking queries (`index`, `wait`) for watches.
 *
 * Mapping: labels and version go to `Meta`, protocols to `Tags`, weight to `Weights.Passing`.
 *
 * Tested against an HTTP server that answers with the request and response shapes of Consul's API
 * documentation; it has not run against a live Consul agent in CI.
 *
 * @example
 * ```ts
 * const registry = consulRegistry({ url: 'http://127.0.0.1:8500', ttlMs: 10_000 });
 * await registry.register({ id: 'users-1', service: 'users', address: '10.0.0.7', port: 8080,
 *   check: { type: 'http', path: '/healthz', intervalMs: 5_000 } });
 * ```
 */
export function consulRegistry(options: ConsulRegistryOptions = {}): Registry {
  return new ConsulRegistry(options);
}

/** One entry of `GET /v1/health/service/:name`. */
interface HealthEntry {
  Service: {
    ID: string;
    Service: string;
    Address: string;
    Port: number;
    Tags?: string[] | null;
    Meta?: Record<string, string> | null;
    Weights?: { Passing: number; Warning: number };
  };
  Node?: { Address?: string };
  Checks?: { Status: string; ServiceID?: string }[];
}

const versionMeta = 'meshkit-version';

function duration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1_000))}s`;
}

function checkDefinition(spec: HealthCheckSpec, instance: ServiceInstance, deregister: string) {
  const base = {
    CheckID: `meshkit:${instance.id}:${spec.type}`,
    Name: `${instance.service} ${spec.type} check`,
    DeregisterCriticalServiceAfter: deregister,
  };
  const timing =
    'intervalMs' in spec
      ? {
          Interval: duration(spec.intervalMs ?? 10_000),
          ...(spec.timeoutMs === undefined ? {} : { Timeout: duration(spec.timeoutMs) }),
        }
      : {};
  switch (spec.type) {
    case 'http':
      return { ...base, ...timing, HTTP: `http://${hostPort(instance)}${spec.path}`, Method: 'GET' };
    case 'tcp':
      return { ...base, ...timing, TCP: hostPort(instance) };
    case 'grpc':
      return {
        ...base,
        ...timing,
        GRPC: spec.service ? `${hostPort(instance)}/${spec.service}` : hostPort(instance),
      };
    default:
      return undefined; // ttl: covered by the heartbeat check every registration has
  }
}

class ConsulRegistry implements Registry {
  readonly kind = 'consul';
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #ttlMs: number;
  readonly #deregisterAfter: string;
  readonly #waitMs: number;
  readonly #retryMs: number;
  readonly #clock: Clock;
  readonly #owned = new Map<string, { instance: ServiceInstance; timer: TimerHandle | undefined }>();
  readonly #watches = new Set<SnapshotWatch>();
  #closed = false;

  constructor(options: ConsulRegistryOptions) {
    const url = checkString('consulRegistry.url', options.url ?? 'http://127.0.0.1:8500');
    try {
      new URL(url);
    } catch {
      throw new InvalidArgumentError('consulRegistry.url', 'must be a URL', url);
    }
    this.#url = url.replace(/\/+$/, '');
    this.#headers = {
      'content-type': 'application/json',
      ...(options.token === undefined
        ? {}
        : { 'x-consul-token': checkString('consulRegistry.token', options.token) }),
    };
    this.#ttlMs = checkNumber('consulRegistry.ttlMs', options.ttlMs ?? 10_000, 1_000);
    this.#deregisterAfter = duration(
      checkNumber(
        'consulRegistry.deregisterCriticalAfterMs',
        options.deregisterCriticalAfterMs ?? 60_000,
        1_000,
      ),
    );
    this.#waitMs = checkNumber('consulRegistry.waitMs', options.waitMs ?? 30_000, 1_000, 600_000);
    this.#retryMs = checkNumber('consulRegistry.retryDelayMs', options.retryDelayMs ?? 1_000, 1);
    this.#clock = options.clock ?? systemClock;
  }

  async #request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.#url}${path}`, {
        method,
        headers: this.#headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal ?? AbortSignal.timeout(10_000),
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new MeshError(
        ErrorCode.CONNECT,
        `consul at ${this.#url} is unreachable: ${(err as Error).message}`,
        {
          cause: err,
          retryable: true,
        },
      );
    }
    if (!res.ok && res.status !== 404) {
      const text = await res.text();
      throw new MeshError(
        ErrorCode.HTTP_STATUS,
        `consul ${method} ${path} answered ${res.status}: ${text.slice(0, 200)}`,
        {
          details: { status: res.status },
        },
      );
    }
    return res;
  }

  #ttlCheckId(id: string): string {
    return `meshkit:${id}:heartbeat`;
  }

  async register(init: InstanceInit): Promise<Registration> {
    this.#checkOpen();
    const instance = validateInstance(init);
    const existing = await this.#request('GET', `/v1/agent/service/${encodeURIComponent(instance.id)}`);
    if (existing.status === 200) {
      const svc = (await existing.json()) as { Address: string; Port: number };
      if (hostPort({ address: svc.Address, port: svc.Port }) !== hostPort(instance)) {
        throw duplicateIdError(
          'instance',
          instance.id,
          hostPort({ address: svc.Address, port: svc.Port }),
          hostPort(instance),
        );
      }
    } else {
      await existing.body?.cancel();
    }
    const own =
      instance.check === undefined
        ? undefined
        : checkDefinition(instance.check, instance, this.#deregisterAfter);
    const meta: Record<string, string> = { ...instance.labels };
    if (instance.version !== undefined) meta[versionMeta] = instance.version;
    await this.#request('PUT', '/v1/agent/service/register', {
      ID: instance.id,
      Name: instance.service,
      Address: instance.address,
      Port: instance.port,
      Tags: [...instance.protocols],
      Meta: meta,
      Weights: { Passing: Math.max(1, Math.round(instance.weight)), Warning: 1 },
      Checks: [
        {
          CheckID: this.#ttlCheckId(instance.id),
          Name: `${instance.service} heartbeat`,
          TTL: duration(this.#ttlMs),
          Status: 'passing',
          DeregisterCriticalServiceAfter: this.#deregisterAfter,
        },
        ...(own === undefined ? [] : [own]),
      ],
    }).then((r) => r.body?.cancel());
    const previous = this.#owned.get(instance.id);
    if (previous?.timer !== undefined) this.#clock.clearTimeout(previous.timer);
    const owned = {
      instance,
      timer: undefined as TimerHandle | undefined,
      health: 'passing' as InstanceHealth,
    };
    this.#owned.set(instance.id, owned);
    const beat = (): void => {
      owned.timer = this.#clock.setTimeout(() => {
        if (this.#owned.get(instance.id) !== owned || this.#closed) return;
        void this.#report(instance.id, owned.health)
          .catch(() => {})
          .finally(beat);
      }, this.#ttlMs / 3);
    };
    beat();
    const live = () => !this.#closed && this.#owned.get(instance.id) === owned;
    return registrationHandle(
      instance,
      live,
      async (health) => {
        owned.health = health;
        await this.#report(instance.id, health);
      },
      () => this.deregister(instance.id),
    );
  }

  async #report(id: string, health: InstanceHealth): Promise<void> {
    const verb = health === 'passing' ? 'pass' : 'fail';
    const res = await this.#request(
      'PUT',
      `/v1/agent/check/${verb}/${encodeURIComponent(this.#ttlCheckId(id))}`,
    );
    await res.body?.cancel();
  }

  async deregister(id: string): Promise<void> {
    checkString('deregister.id', id);
    this.#checkOpen();
    const owned = this.#owned.get(id);
    if (owned?.timer !== undefined) this.#clock.clearTimeout(owned.timer);
    this.#owned.delete(id);
    const res = await this.#request('PUT', `/v1/agent/service/deregister/${encodeURIComponent(id)}`);
    await res.body?.cancel();
  }

  #toInstance(entry: HealthEntry): ServiceInstance | undefined {
    const { Service: s } = entry;
    const { [versionMeta]: version, ...labels } = s.Meta ?? {};
    try {
      const instance = validateInstance({
        id: s.ID,
        service: s.Service,
        address: s.Address || entry.Node?.Address || '',
        port: s.Port,
        protocols: s.Tags && s.Tags.length > 0 ? s.Tags : ['http'],
        ...(version === undefined ? {} : { version }),
        labels,
        weight: s.Weights?.Passing ?? 1,
      });
      const passing = (entry.Checks ?? []).every((c) => c.Status === 'passing');
      return passing ? instance : { ...instance, health: 'critical' };
    } catch {
      return undefined; // an entry another tool registered with data we cannot use
    }
  }

  async #query(
    service: string,
    healthyOnly: boolean,
    index: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ instances: ServiceInstance[]; index: string | undefined }> {
    const params = new URLSearchParams();
    if (healthyOnly) params.set('passing', 'true');
    if (index !== undefined) {
      params.set('index', index);
      params.set('wait', duration(this.#waitMs));
    }
    const res = await this.#request(
      'GET',
      `/v1/health/service/${encodeURIComponent(service)}?${params}`,
      undefined,
      signal,
    );
    const entries = res.status === 404 ? [] : ((await res.json()) as HealthEntry[]);
    const instances = entries
      .map((e) => this.#toInstance(e))
      .filter((i): i is ServiceInstance => i !== undefined)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    return { instances, index: res.headers.get('x-consul-index') ?? undefined };
  }

  async lookup(service: string, options: LookupOptions = {}): Promise<readonly ServiceInstance[]> {
    checkString('lookup.service', service);
    this.#checkOpen();
    return (await this.#query(service, options.healthyOnly ?? true, undefined)).instances;
  }

  watch(service: string, options: LookupOptions = {}): Watch {
    checkString('watch.service', service);
    this.#checkOpen();
    const healthyOnly = options.healthyOnly ?? true;
    const controller = new AbortController();
    const watch = new SnapshotWatch(service, () => {
      controller.abort(new MeshError(ErrorCode.CLOSED, 'watch closed'));
      this.#watches.delete(watch);
    });
    this.#watches.add(watch);
    void this.#follow(service, healthyOnly, watch, controller.signal);
    return watch;
  }

  /** Blocking-query loop: each answer carries `X-Consul-Index`; the next query waits for it to move. */
  async #follow(
    service: string,
    healthyOnly: boolean,
    watch: SnapshotWatch,
    signal: AbortSignal,
  ): Promise<void> {
    let index: string | undefined;
    while (!signal.aborted) {
      try {
        const result = await this.#query(service, healthyOnly, index, signal);
        watch.push(result.instances);
        // Consul's rule: an index that goes backwards (or is missing) means start over from zero.
        const next = result.index;
        index = next === undefined || (index !== undefined && BigInt(next) < BigInt(index)) ? '0' : next;
        continue;
      } catch {
        if (signal.aborted) return;
      }
      // Rejects only when the watch is aborted, which the loop condition then sees.
      await sleep(this.#clock, this.#retryMs, signal).catch(() => {});
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new MeshError(ErrorCode.CLOSED, 'consul registry is closed');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const w of [...this.#watches]) w.close();
    for (const id of [...this.#owned.keys()]) await this.deregister(id).catch(() => {});
    this.#closed = true;
  }
}
