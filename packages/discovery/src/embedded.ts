import type { DatabaseSync, StatementSync } from 'node:sqlite';
import {
  type Clock,
  ErrorCode,
  InvalidArgumentError,
  MeshError,
  systemClock,
  type TimerHandle,
} from '@meshkit/core';
import { checkNumber, checkString, openSqliteFile } from '@meshkit/core/internal';
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

/** Options for {@link embeddedRegistry}. */
export interface EmbeddedRegistryOptions {
  /** The SQLite file shared by every process on the machine; created (with its folder) if missing. */
  readonly path: string;
  /** How long an entry lives without a heartbeat, in ms. Defaults to 10,000. */
  readonly ttlMs?: number;
  /** How often a registration refreshes its entry, in ms. Defaults to a third of `ttlMs`. */
  readonly heartbeatIntervalMs?: number;
  /** How often watches look for changes by other processes, in ms. Defaults to 50. */
  readonly pollIntervalMs?: number;
  /** Time source for TTLs, heartbeats and polling. Defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * The default registry: one SQLite file (WAL mode) shared by every process on the machine, with TTL
 * heartbeats. A process killed with SIGKILL stops heartbeating and its entries expire after `ttlMs`.
 *
 * Watches poll `PRAGMA data_version`, which changes only when another connection committed, so an idle
 * poll costs one tiny query and a change is seen within `pollIntervalMs`. Expiry is noticed without any
 * write: the poll also wakes when the earliest `expires_at` among the watched entries passes.
 *
 * @example
 * ```ts
 * const registry = embeddedRegistry({ path: '.meshkit/registry.db', ttlMs: 5_000 });
 * const reg = await registry.register({ id: 'users-1', service: 'users', address: '127.0.0.1', port: 8080 });
 * process.on('SIGTERM', () => registry.close());
 * ```
 */
export function embeddedRegistry(options: EmbeddedRegistryOptions): Registry {
  return new EmbeddedRegistry(options);
}

interface Row {
  data: string;
  health: string;
  expires_at: number;
}

interface Owned {
  instance: ServiceInstance;
  health: InstanceHealth;
  timer: TimerHandle | undefined;
}

class EmbeddedRegistry implements Registry {
  readonly kind = 'embedded';
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #heartbeatMs: number;
  readonly #pollMs: number;
  readonly #owned = new Map<string, Owned>();
  readonly #watches = new Set<{ service: string; healthyOnly: boolean; watch: SnapshotWatch }>();
  readonly #sql: {
    get: StatementSync;
    upsert: StatementSync;
    heartbeat: StatementSync;
    health: StatementSync;
    remove: StatementSync;
    purge: StatementSync;
    list: StatementSync;
    version: StatementSync;
    services: StatementSync;
  };
  #pollTimer: TimerHandle | undefined;
  #dataVersion = -1;
  #nextExpiry = Infinity;
  #closed = false;

  constructor(options: EmbeddedRegistryOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('embeddedRegistry', 'options must be an object', options);
    }
    const path = checkString('embeddedRegistry.path', options.path);
    this.#ttlMs = checkNumber('embeddedRegistry.ttlMs', options.ttlMs ?? 10_000, 1);
    this.#heartbeatMs = checkNumber(
      'embeddedRegistry.heartbeatIntervalMs',
      options.heartbeatIntervalMs ?? this.#ttlMs / 3,
      1,
      this.#ttlMs,
    );
    this.#pollMs = checkNumber('embeddedRegistry.pollIntervalMs', options.pollIntervalMs ?? 50, 1);
    this.#clock = options.clock ?? systemClock;
    this.#db = openSqliteFile(
      'embeddedRegistry.path',
      path,
      (db) =>
        db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS instances (
        id TEXT PRIMARY KEY,
        service TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        data TEXT NOT NULL,
        health TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS instances_by_service ON instances (service, expires_at);
    `),
      { timeout: 5_000 },
    );
    this.#sql = {
      get: this.#db.prepare('SELECT endpoint, expires_at FROM instances WHERE id = ?'),
      upsert: this.#db.prepare(
        `INSERT INTO instances (id, service, endpoint, data, health, expires_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET service = excluded.service, endpoint = excluded.endpoint,
           data = excluded.data, health = excluded.health, expires_at = excluded.expires_at`,
      ),
      // A heartbeat only extends a row that is still there at our address: an entry deregistered by
      // someone else stays gone, and an id claimed by another address after ours expired is not taken back.
      heartbeat: this.#db.prepare(
        'UPDATE instances SET expires_at = ?, health = ? WHERE id = ? AND endpoint = ?',
      ),
      health: this.#db.prepare('UPDATE instances SET health = ? WHERE id = ?'),
      remove: this.#db.prepare('DELETE FROM instances WHERE id = ? RETURNING service'),
      purge: this.#db.prepare('DELETE FROM instances WHERE expires_at <= ?'),
      list: this.#db.prepare(
        'SELECT data, health, expires_at FROM instances WHERE service = ? AND expires_at > ? ORDER BY id',
      ),
      version: this.#db.prepare('PRAGMA data_version'),
      services: this.#db.prepare(
        'SELECT DISTINCT service FROM instances WHERE expires_at > ? ORDER BY service',
      ),
    };
  }

  async register(init: InstanceInit): Promise<Registration> {
    this.#checkOpen();
    const instance = validateInstance(init);
    const now = this.#clock.now();
    const endpoint = hostPort(instance);
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const existing = this.#sql.get.get(instance.id) as { endpoint: string; expires_at: number } | undefined;
      if (existing !== undefined && existing.expires_at > now && existing.endpoint !== endpoint) {
        throw duplicateIdError('instance', instance.id, existing.endpoint, endpoint);
      }
      this.#sql.purge.run(now);
      this.#sql.upsert.run(...this.#row(instance, 'passing', now));
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    const previous = this.#owned.get(instance.id);
    if (previous?.timer !== undefined) this.#clock.clearTimeout(previous.timer);
    const owned: Owned = { instance, health: 'passing', timer: undefined };
    this.#owned.set(instance.id, owned);
    this.#scheduleHeartbeat(owned);
    this.#refreshWatches();
    const live = () => !this.#closed && this.#owned.get(instance.id) === owned;
    return registrationHandle(
      instance,
      live,
      (health) => {
        owned.health = health;
        this.#sql.health.run(health, instance.id);
        this.#refreshWatches();
      },
      () => this.deregister(instance.id),
    );
  }

  #row(instance: ServiceInstance, health: InstanceHealth, now: number) {
    const { health: _, ...data } = instance;
    return [
      instance.id,
      instance.service,
      hostPort(instance),
      JSON.stringify(data),
      health,
      now + this.#ttlMs,
    ] as const;
  }

  #scheduleHeartbeat(owned: Owned): void {
    owned.timer = this.#clock.setTimeout(() => {
      if (this.#closed || this.#owned.get(owned.instance.id) !== owned) return;
      const { instance } = owned;
      try {
        const result = this.#sql.heartbeat.run(
          this.#clock.now() + this.#ttlMs,
          owned.health,
          instance.id,
          hostPort(instance),
        );
        if (result.changes === 0) {
          // Deregistered elsewhere, or expired and purged: the registration is over.
          this.#owned.delete(instance.id);
          return;
        }
      } catch {
        // Busy beyond the lock timeout or a full disk: the entry survives until its TTL, and the next
        // heartbeat (a third of the TTL later, by default) tries again.
      }
      this.#scheduleHeartbeat(owned);
    }, this.#heartbeatMs);
  }

  async deregister(id: string): Promise<void> {
    checkString('deregister.id', id);
    this.#checkOpen();
    const owned = this.#owned.get(id);
    if (owned !== undefined) {
      if (owned.timer !== undefined) this.#clock.clearTimeout(owned.timer);
      this.#owned.delete(id);
    }
    this.#sql.remove.run(id);
    this.#refreshWatches();
  }

  async lookup(service: string, options: LookupOptions = {}): Promise<readonly ServiceInstance[]> {
    checkString('lookup.service', service);
    this.#checkOpen();
    return this.#list(service, options.healthyOnly ?? true);
  }

  async services(): Promise<readonly string[]> {
    this.#checkOpen();
    const rows = this.#sql.services.all(this.#clock.now()) as unknown as { service: string }[];
    return rows.map((row) => row.service);
  }

  #list(service: string, healthyOnly: boolean): readonly ServiceInstance[] {
    const rows = this.#sql.list.all(service, this.#clock.now()) as unknown as Row[];
    const out: ServiceInstance[] = [];
    for (const row of rows) {
      if (row.expires_at < this.#nextExpiry) this.#nextExpiry = row.expires_at;
      if (healthyOnly && row.health !== 'passing') continue;
      out.push(instanceFromJson(row.data, row.health as InstanceHealth));
    }
    return out;
  }

  watch(service: string, options: LookupOptions = {}): Watch {
    checkString('watch.service', service);
    this.#checkOpen();
    const entry = {
      service,
      healthyOnly: options.healthyOnly ?? true,
      watch: new SnapshotWatch(service, () => {
        this.#watches.delete(entry);
        if (this.#watches.size === 0 && this.#pollTimer !== undefined) {
          this.#clock.clearTimeout(this.#pollTimer);
          this.#pollTimer = undefined;
        }
      }),
    };
    this.#watches.add(entry);
    entry.watch.push(this.#list(service, entry.healthyOnly));
    if (this.#pollTimer === undefined) this.#schedulePoll();
    return entry.watch;
  }

  #schedulePoll(): void {
    this.#pollTimer = this.#clock.setTimeout(() => {
      this.#pollTimer = undefined;
      if (this.#closed || this.#watches.size === 0) return;
      try {
        const version = (this.#sql.version.get() as { data_version: number }).data_version;
        if (version !== this.#dataVersion || this.#clock.now() >= this.#nextExpiry) {
          this.#dataVersion = version;
          this.#refreshWatches();
        }
      } catch (err) {
        for (const { watch } of this.#watches) watch.fail(err);
        return;
      }
      this.#schedulePoll();
    }, this.#pollMs);
  }

  #refreshWatches(): void {
    this.#nextExpiry = Infinity;
    for (const { service, healthyOnly, watch } of this.#watches) watch.push(this.#list(service, healthyOnly));
  }

  #checkOpen(): void {
    if (this.#closed) throw new MeshError(ErrorCode.CLOSED, 'embedded registry is closed');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const id of [...this.#owned.keys()]) await this.deregister(id);
    this.#closed = true;
    if (this.#pollTimer !== undefined) this.#clock.clearTimeout(this.#pollTimer);
    for (const { watch } of [...this.#watches]) watch.close();
    this.#db.close();
  }
}
