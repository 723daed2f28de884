/**
 * Runs tasks with at most `concurrency` at once while tasks sharing a key run one after another, in
 * arrival order. Tasks without a key run as soon as a slot is free.
 */
export class KeyScheduler<T> {
  readonly #concurrency: number;
  readonly #run: (item: T) => Promise<void>;
  readonly #keyOf: (item: T) => string | undefined;
  /** Items allowed to start (no earlier item with their key is pending). */
  #ready: T[] = [];
  /**
   * For each key with an item running or ready, the later items with that key, in order (`undefined`
   * until there is one: most keys never wait, and need no array).
   */
  readonly #blocked = new Map<string, T[] | undefined>();
  #active = 0;
  #idle: (() => void)[] = [];

  constructor(concurrency: number, keyOf: (item: T) => string | undefined, run: (item: T) => Promise<void>) {
    this.#concurrency = concurrency;
    this.#keyOf = keyOf;
    this.#run = run;
  }

  /** Items running now. */
  get active(): number {
    return this.#active;
  }

  /** Items accepted but not started. */
  get queued(): number {
    let n = this.#ready.length;
    for (const q of this.#blocked.values()) n += q?.length ?? 0;
    return n;
  }

  push(item: T): void {
    const key = this.#keyOf(item);
    if (key !== undefined) {
      const later = this.#blocked.get(key);
      if (later !== undefined) {
        later.push(item);
        return;
      }
      if (this.#blocked.has(key)) {
        this.#blocked.set(key, [item]);
        return;
      }
      this.#blocked.set(key, undefined);
    }
    this.#ready.push(item);
    this.#drain();
  }

  /** Removes and returns every item not yet started (graceful stop hands them back to the broker). */
  takeQueued(): T[] {
    const out: T[] = [];
    for (const item of this.#ready) {
      out.push(item);
      const key = this.#keyOf(item);
      if (key === undefined) continue;
      out.push(...(this.#blocked.get(key) ?? []));
      this.#blocked.delete(key);
    }
    this.#ready = [];
    // What is left belongs to keys whose item is running: they stay owned (no queue) until it ends.
    for (const [key, later] of this.#blocked) {
      if (later === undefined) continue;
      out.push(...later);
      this.#blocked.set(key, undefined);
    }
    return out;
  }

  /** Resolves when nothing is running. */
  whenIdle(): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #drain(): void {
    while (this.#active < this.#concurrency && this.#ready.length > 0) {
      const item = this.#ready.shift()!;
      this.#active++;
      const finish = (): void => this.#finish(item);
      this.#run(item).then(finish, finish);
    }
  }

  #finish(item: T): void {
    this.#active--;
    const key = this.#keyOf(item);
    if (key !== undefined) {
      const later = this.#blocked.get(key);
      const next = later?.shift();
      if (next === undefined) this.#blocked.delete(key);
      else this.#ready.push(next);
    }
    this.#drain();
    if (this.#active === 0 && this.#idle.length > 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  }
}
