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
  hostPort,
  type InstanceHealth,
  type InstanceInit,
  instanceFromJson,
  type ServiceInstance,
  validateInstance,
} from './instance.ts';
import { registrationHandle } from './registration.ts';
import type { LookupOptions, Registration, Registry, Watch } from './registry.ts';
import { SnapshotWatch } from './watch.ts';

/** Options for {@link etcdRegistry}. */
export interface EtcdRegistryOptions {
  /** etcd's client URL. Defaults to `http://127.0.0.1:2379`. */
  readonly url?: string;
  /** Key prefix for everything this registry writes. Defaults to `/meshkit/registry/`. */
  readonly prefix?: string;
  /** Lease TTL in ms, rounded up to whole seconds (etcd's own minimum is about 2 s). Defaults to 10,000. */
  readonly ttlMs?: number;
  /** Timeout of each request to etcd, in ms. Defaults to 5,000. */
  readonly requestTimeoutMs?: number;
  /** Wait before re-opening a broken watch stream, in ms. Defaults to 1,000. */
  readonly reconnectDelayMs?: number;
  /** Time source for keep-alives and reconnects. Defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * A registry on etcd v3, spoken through etcd's JSON gateway (`/v3/...`) with `fetch`: no client library
 * (the `etcd3` package has not been released since 2021 and drags in an old gRPC stack).
 *
 * Layout under `prefix`: `services/<service>/<id>` holds the instance as JSON and `ids/<id>` names its
 * service, both attached to this registry's lease. The lease is kept alive every third of its TTL; a
 * process that dies stops the keep-alive and etcd deletes its keys when the lease expires. Watches are
 * etcd prefix watches on `services/<service>/`.
 *
 * @example
 * ```ts
 * const registry = etcdRegistry({ url: 'http://127.0.0.1:2379', ttlMs: 5_000 });
 * await registry.register({ id: 'users-1', service: 'users', address: '10.0.0.7', port: 8080 });
 * ```
 */
export function etcdRegistry(options: EtcdRegistryOptions = {}): Registry {
  return new EtcdRegistry(options);
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: string): string => Buffer.from(text, 'base64').toString('utf8');

/** The smallest key greater than every key starting with `prefix`. */
function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      bytes[i]! += 1;
      return bytes.subarray(0, i + 1).toString('base64');
    }
  }
  return Buffer.from([0]).toString('base64');
}

interface KeyValue {
  key: string;
  value?: string;
  mod_revision?: string;
}

interface Stored {
  readonly data: Omit<ServiceInstance, 'health'>;
  readonly health: InstanceHealth;
}

interface Owned {
  instance: ServiceInstance;
  health: InstanceHealth;
}

class EtcdRegistry implements Registry {
  readonly kind = 'etcd';
  readonly #url: string;
  readonly #prefix: string;
  readonly #ttlSeconds: number;
  readonly #timeoutMs: number;
  readonly #reconnectMs: number;
  readonly #clock: Clock;
  readonly #owned = new Map<string, Owned>();
  readonly #watches = new Set<SnapshotWatch>();
  #lease: Promise<string> | undefined;
  #keepAlive: TimerHandle | undefined;
  #closed = false;

  constructor(options: EtcdRegistryOptions) {
    const url = checkString('etcdRegistry.url', options.url ?? 'http://127.0.0.1:2379');
    try {
      new URL(url);
    } catch {
      throw new InvalidArgumentError('etcdRegistry.url', 'must be a URL', url);
    }
    this.#url = url.replace(/\/+$/, '');
    this.#prefix = checkString('etcdRegistry.prefix', options.prefix ?? '/meshkit/registry/');
    const ttlMs = checkNumber('etcdRegistry.ttlMs', options.ttlMs ?? 10_000, 1);
    this.#ttlSeconds = Math.max(1, Math.ceil(ttlMs / 1_000));
    this.#timeoutMs = checkNumber('etcdRegistry.requestTimeoutMs', options.requestTimeoutMs ?? 5_000, 1);
    this.#reconnectMs = checkNumber('etcdRegistry.reconnectDelayMs', options.reconnectDelayMs ?? 1_000, 1);
    this.#clock = options.clock ?? systemClock;
  }

  async #call<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.#url}/v3/${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
        signal: signal ?? AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new MeshError(
        ErrorCode.CONNECT,
        `etcd at ${this.#url} is unreachable: ${(err as Error).message}`,
        {
          cause: err,
          retryable: true,
        },
      );
    }
    const text = await res.text();
    if (!res.ok) {
      throw new MeshError(
        ErrorCode.HTTP_STATUS,
        `etcd ${path} answered ${res.status}: ${text.slice(0, 200)}`,
        {
          details: { status: res.status },
        },
      );
    }
    return JSON.parse(text) as T;
  }

  #serviceKey(service: string, id: string): string {
    return `${this.#prefix}services/${service}/${id}`;
  }

  #idKey(id: string): string {
    return `${this.#prefix}ids/${id}`;
  }

  /** This registry's lease, granted on first use and kept alive until close. */
  #leaseId(): Promise<string> {
    this.#lease ??= this.#call<{ ID: string }>('lease/grant', { TTL: this.#ttlSeconds }).then(
      ({ ID }) => {
        this.#scheduleKeepAlive();
        return ID;
      },
      (err: unknown) => {
        this.#lease = undefined;
        throw err;
      },
    );
    return this.#lease;
  }

  #scheduleKeepAlive(): void {
    this.#keepAlive = this.#clock.setTimeout(() => void this.#renew(), (this.#ttlSeconds * 1_000) / 3);
  }

  async #renew(): Promise<void> {
    if (this.#closed || this.#lease === undefined) return;
    try {
      const id = await this.#lease;
      const res = await this.#call<{ result?: { TTL?: string } }>('lease/keepalive', { ID: id });
      if (Number(res.result?.TTL ?? 0) <= 0) {
        // The lease expired (a long pause, or etcd restarted): take a new one and write our keys again.
        this.#lease = undefined;
        for (const owned of this.#owned.values()) await this.#put(owned);
        return;
      }
    } catch {
      // etcd unreachable: the keys live until the lease TTL; the next keep-alive tries again.
    }
    if (!this.#closed) this.#scheduleKeepAlive();
  }

  /** Writes both keys in one transaction; with `compare`, only if it holds (returns whether it did). */
  async #put(owned: Owned, compare: unknown[] = [], also: unknown[] = []): Promise<boolean> {
    const lease = await this.#leaseId();
    const { instance } = owned;
    const { health: _, ...data } = instance;
    const stored: Stored = { data, health: owned.health };
    const res = await this.#call<{ succeeded?: boolean }>('kv/txn', {
      compare,
      success: [
        ...also,
        {
          request_put: {
            key: b64(this.#serviceKey(instance.service, instance.id)),
            value: b64(JSON.stringify(stored)),
            lease,
          },
        },
        { request_put: { key: b64(this.#idKey(instance.id)), value: b64(instance.service), lease } },
      ],
    });
    return res.succeeded === true;
  }

  async #get(key: string): Promise<KeyValue | undefined> {
    const res = await this.#call<{ kvs?: KeyValue[] }>('kv/range', { key: b64(key) });
    return res.kvs?.[0];
  }

  async register(init: InstanceInit): Promise<Registration> {
    this.#checkOpen();
    const instance = validateInstance(init);
    const owned: Owned = { instance, health: 'passing' };
    const idKey = b64(this.#idKey(instance.id));
    // Check-then-write as one transaction guarded by the id key's revision: if another process registers
    // the same id in between, the write fails and the check runs again on what it wrote.
    for (let attempt = 0; ; attempt++) {
      const idRow = await this.#get(this.#idKey(instance.id));
      const also: unknown[] = [];
      if (idRow?.value !== undefined) {
        const oldService = unb64(idRow.value);
        const existing = await this.#get(this.#serviceKey(oldService, instance.id));
        if (existing?.value !== undefined) {
          const old = JSON.parse(unb64(existing.value)) as Stored;
          if (hostPort(old.data) !== hostPort(instance)) {
            throw duplicateIdError('instance', instance.id, hostPort(old.data), hostPort(instance));
          }
        }
        if (oldService !== instance.service) {
          also.push({ request_delete_range: { key: b64(this.#serviceKey(oldService, instance.id)) } });
        }
      }
      const compare =
        idRow === undefined
          ? [{ key: idKey, target: 'CREATE', result: 'EQUAL', create_revision: '0' }]
          : [{ key: idKey, target: 'MOD', result: 'EQUAL', mod_revision: idRow.mod_revision }];
      if (await this.#put(owned, compare, also)) break;
      if (attempt >= 4) {
        throw new MeshError(
          ErrorCode.CONNECTION_RESET,
          `etcd: registering "${instance.id}" kept racing another writer`,
          {
            retryable: true,
          },
        );
      }
    }
    this.#owned.set(instance.id, owned);
    const live = () => !this.#closed && this.#owned.get(instance.id) === owned;
    return registrationHandle(
      instance,
      live,
      async (health) => {
        owned.health = health;
        await this.#put(owned);
      },
      () => this.deregister(instance.id),
    );
  }

  async deregister(id: string): Promise<void> {
    checkString('deregister.id', id);
    this.#checkOpen();
    this.#owned.delete(id);
    const idRow = await this.#get(this.#idKey(id));
    if (idRow?.value === undefined) return;
    await this.#call('kv/txn', {
      success: [
        { request_delete_range: { key: b64(this.#serviceKey(unb64(idRow.value), id)) } },
        { request_delete_range: { key: b64(this.#idKey(id)) } },
      ],
    });
  }

  async lookup(service: string, options: LookupOptions = {}): Promise<readonly ServiceInstance[]> {
    checkString('lookup.service', service);
    this.#checkOpen();
    return (await this.#list(service, options.healthyOnly ?? true)).instances;
  }

  async services(): Promise<readonly string[]> {
    this.#checkOpen();
    const prefix = `${this.#prefix}services/`;
    const res = await this.#call<{ kvs?: { key: string }[] }>('kv/range', {
      key: b64(prefix),
      range_end: prefixEnd(prefix),
      keys_only: true,
    });
    const names = new Set<string>();
    for (const kv of res.kvs ?? []) names.add(unb64(kv.key).slice(prefix.length).split('/')[0]!);
    return [...names].sort();
  }

  async #list(
    service: string,
    healthyOnly: boolean,
  ): Promise<{ instances: ServiceInstance[]; revision: string }> {
    const prefix = `${this.#prefix}services/${service}/`;
    const res = await this.#call<{ header: { revision: string }; kvs?: KeyValue[] }>('kv/range', {
      key: b64(prefix),
      range_end: prefixEnd(prefix),
    });
    const instances: ServiceInstance[] = [];
    for (const kv of res.kvs ?? []) {
      if (kv.value === undefined) continue;
      const stored = JSON.parse(unb64(kv.value)) as Stored;
      if (healthyOnly && stored.health !== 'passing') continue;
      instances.push(instanceFromJson(JSON.stringify(stored.data), stored.health));
    }
    return { instances, revision: res.header.revision };
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

  /** Lists, then streams changes from the next revision; on a broken stream, waits and starts over. */
  async #follow(
    service: string,
    healthyOnly: boolean,
    watch: SnapshotWatch,
    signal: AbortSignal,
  ): Promise<void> {
    const prefix = `${this.#prefix}services/${service}/`;
    while (!signal.aborted) {
      try {
        const first = await this.#list(service, healthyOnly);
        watch.push(first.instances);
        const res = await fetch(`${this.#url}/v3/watch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            create_request: {
              key: b64(prefix),
              range_end: prefixEnd(prefix),
              start_revision: String(BigInt(first.revision) + 1n),
            },
          }),
          signal,
        });
        if (!res.ok || res.body === null) throw new Error(`etcd watch answered ${res.status}`);
        const decoder = new TextDecoder();
        let buffer = '';
        for await (const chunk of res.body) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let newline = buffer.indexOf('\n');
          let changed = false;
          while (newline >= 0) {
            const line = buffer.slice(0, newline).trim();
            buffer = buffer.slice(newline + 1);
            newline = buffer.indexOf('\n');
            if (line === '') continue;
            const message = JSON.parse(line) as { result?: { events?: unknown[]; canceled?: boolean } };
            if (message.result?.canceled) throw new Error('etcd cancelled the watch');
            if ((message.result?.events?.length ?? 0) > 0) changed = true;
          }
          // A change re-reads the service: simple, and a slow reader still gets one coherent set.
          if (changed) watch.push((await this.#list(service, healthyOnly)).instances);
        }
      } catch {
        if (signal.aborted) return;
      }
      if (signal.aborted) return;
      // Rejects only when the watch is aborted, which the loop condition then sees.
      await sleep(this.#clock, this.#reconnectMs, signal).catch(() => {});
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new MeshError(ErrorCode.CLOSED, 'etcd registry is closed');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const w of [...this.#watches]) w.close();
    for (const id of [...this.#owned.keys()]) await this.deregister(id).catch(() => {});
    this.#closed = true;
    if (this.#keepAlive !== undefined) this.#clock.clearTimeout(this.#keepAlive);
    const lease = this.#lease;
    this.#lease = undefined;
    // Revoking the lease removes anything still attached to it in one step.
    if (lease !== undefined)
      await this.#call('lease/revoke', { ID: await lease.catch(() => '0') }).catch(() => {});
  }
}
