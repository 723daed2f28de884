import type { ServiceInstance } from './instance.ts';
import type { RegistryChange, Watch } from './registry.ts';

/**
 * The one {@link Watch} implementation every source uses: the source pushes whole sets, the reader pulls
 * changes. Keeping only the latest set (not a queue) bounds memory whatever the reader's speed, and
 * computing `added`/`removed` against what the reader last saw keeps the diff honest after coalescing.
 * One reader per watch.
 *
 * @example
 * ```ts
 * declare function startPolling(onSet: (instances: readonly ServiceInstance[]) => void): void;
 * declare function stopPolling(): void;
 * // inside a Registry implementation:
 * function watch(service: string): Watch {
 *   const w = new SnapshotWatch(service, () => stopPolling());
 *   startPolling((instances) => w.push(instances));
 *   return w;
 * }
 * ```
 */
export class SnapshotWatch implements Watch {
  readonly #service: string;
  readonly #onClose: () => void;
  #latest: readonly ServiceInstance[] | undefined;
  #delivered: readonly ServiceInstance[] | undefined;
  #failure: unknown;
  #closed = false;
  #waiter: (() => void) | undefined;
  #reading = false;

  /** @param onClose runs once, when the reader closes the watch or stops iterating. */
  constructor(service: string, onClose: () => void) {
    this.#service = service;
    this.#onClose = onClose;
  }

  /** Offers the current set; a set equal to the last one delivered wakes nobody. */
  push(instances: readonly ServiceInstance[]): void {
    if (this.#closed) return;
    this.#latest = [...instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.#wake();
  }

  /** Ends the iteration with `error` (the source broke and cannot recover). */
  fail(error: unknown): void {
    if (this.#closed) return;
    this.#failure = error ?? new Error('watch failed');
    this.#wake();
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake();
    this.#onClose();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<RegistryChange> {
    // One waiter slot, one diff base: a second reader would steal the first one's wake-ups and diffs.
    if (this.#reading) {
      throw new TypeError('a Watch has one reader; call registry.watch() again for another');
    }
    this.#reading = true;
    return this.#read();
  }

  async *#read(): AsyncGenerator<RegistryChange> {
    try {
      for (;;) {
        if (this.#closed) return;
        if (this.#failure !== undefined) throw this.#failure;
        const latest = this.#latest;
        if (latest !== undefined && (this.#delivered === undefined || !sameSet(latest, this.#delivered))) {
          const change = diff(this.#service, this.#delivered ?? [], latest);
          this.#delivered = latest;
          yield change;
          continue;
        }
        await new Promise<void>((resolve) => {
          this.#waiter = resolve;
        });
      }
    } finally {
      this.close();
    }
  }
}

function key(i: ServiceInstance): string {
  return JSON.stringify([
    i.address,
    i.port,
    i.protocols,
    i.version,
    i.labels,
    i.weight,
    i.check,
    i.health,
    i.service,
  ]);
}

function sameSet(a: readonly ServiceInstance[], b: readonly ServiceInstance[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.id !== b[i]!.id || key(a[i]!) !== key(b[i]!)) return false;
  }
  return true;
}

function diff(
  service: string,
  before: readonly ServiceInstance[],
  after: readonly ServiceInstance[],
): RegistryChange {
  const old = new Map(before.map((i) => [i.id, key(i)]));
  const now = new Set(after.map((i) => i.id));
  return {
    service,
    instances: after,
    added: after.filter((i) => old.get(i.id) !== key(i)),
    removed: before.filter((i) => !now.has(i.id)),
  };
}
