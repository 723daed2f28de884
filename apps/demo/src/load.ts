/**
 * Steady load through the gateway, as a client of the public API would make it: a fixed number of
 * workers, each making one call after another (create, read, list, update, delete in a realistic mix),
 * with a deadline per call and an `Idempotency-Key` on every create so an ambiguous create can be asked
 * again later without creating twice. Every call is recorded for the report.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';

/** One finished call. */
export interface CallRecord {
  readonly op: Operation;
  /** HTTP status, or 0 when no response came (connection failure, deadline). */
  readonly status: number;
  readonly latencyMs: number;
  /** The subset the gateway routed to (its `x-meshkit-subset` header), when it said. */
  readonly subset: string | undefined;
  /** Attempts the gateway made (its `x-meshkit-attempts` header), when it said. */
  readonly attempts: number | undefined;
  /** Whether the call asked for the canary (`x-canary: true`). */
  readonly canary: boolean;
  /** Phase the call started in. */
  readonly phase: string;
}

export type Operation = 'create' | 'get' | 'list' | 'update' | 'delete';

/** A create whose outcome the client could not tell (no answer, or a 5xx): asked again at the end. */
interface PendingCreate {
  readonly key: string;
  readonly body: string;
}

/** Options of {@link LoadGenerator}. */
export interface LoadOptions {
  /** Gateway origin, e.g. `http://127.0.0.1:8080`. */
  readonly origin: string;
  /** Concurrent workers. */
  readonly workers: number;
  /** Deadline of each call, ms. */
  readonly deadlineMs: number;
}

export class LoadGenerator {
  readonly records: CallRecord[] = [];
  /** Creates confirmed by a 201 (or by a replay of their key): one `user.created` event each. */
  readonly created = new Set<string>();
  /** Updates and deletes confirmed by a 2xx: one event each. */
  confirmedChanges = 0;
  phase = 'start';
  canary = false;
  readonly #pool: Pool;
  readonly #options: LoadOptions;
  readonly #ids: string[] = [];
  readonly #pending: PendingCreate[] = [];
  #running = false;
  #workers: Promise<void>[] = [];
  #sequence = 0;

  constructor(options: LoadOptions) {
    this.#options = options;
    this.#pool = new Pool(options.origin, { connections: options.workers });
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#workers = Array.from({ length: this.#options.workers }, () => this.#work());
  }

  /** Stops after the calls in flight finish. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#workers);
  }

  /**
   * Asks again for every create whose outcome was unknown, with the same key and body, until each has a
   * definite answer or `rounds` are used: a replayed 201 or a 409 on the key tells the create happened.
   */
  async settlePending(rounds: number): Promise<number> {
    for (let round = 0; round < rounds && this.#pending.length > 0; round++) {
      const pending = this.#pending.splice(0);
      for (const create of pending) {
        const result = await this.#send('POST', '/api/users', create.body, create.key).catch(() => undefined);
        if (result === undefined || result.status >= 500) this.#pending.push(create);
        else if (result.status === 201 || result.status === 200) this.#recordCreated(result.body);
      }
    }
    return this.#pending.length;
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }

  async #work(): Promise<void> {
    while (this.#running) {
      await this.#one();
    }
  }

  async #one(): Promise<void> {
    const op = this.#pick();
    const started = performance.now();
    const phase = this.phase;
    const canary = this.canary;
    let status = 0;
    let subset: string | undefined;
    let attempts: number | undefined;
    let pendingCreate: PendingCreate | undefined;
    try {
      const result = await this.#call(op, (create) => {
        pendingCreate = create;
      });
      status = result.status;
      subset = result.subset;
      attempts = result.attempts;
    } catch {
      status = 0;
    }
    if (pendingCreate !== undefined && (status === 0 || status >= 500)) this.#pending.push(pendingCreate);
    this.records.push({
      op,
      status,
      latencyMs: performance.now() - started,
      subset,
      attempts,
      canary,
      phase,
    });
  }

  #pick(): Operation {
    if (this.#ids.length < 5) return 'create';
    const roll = Math.random();
    if (roll < 0.3) return 'create';
    if (roll < 0.8) return 'get';
    if (roll < 0.9) return 'list';
    if (roll < 0.97) return 'update';
    return 'delete';
  }

  async #call(op: Operation, onCreate: (create: PendingCreate) => void): Promise<Reply> {
    switch (op) {
      case 'create': {
        const n = ++this.#sequence;
        const body = JSON.stringify({
          email: `user-${n}-${randomUUID().slice(0, 8)}@example.com`,
          name: `User ${n}`,
        });
        const create = { key: randomUUID(), body };
        onCreate(create);
        const reply = await this.#send('POST', '/api/users', body, create.key);
        if (reply.status === 201 || reply.status === 200) this.#recordCreated(reply.body);
        return reply;
      }
      case 'get':
        return this.#send('GET', `/api/users/${this.#anyId()}`);
      case 'list':
        return this.#send('GET', '/api/users?page_size=10');
      case 'update': {
        const reply = await this.#send(
          'PATCH',
          `/api/users/${this.#anyId()}`,
          JSON.stringify({ name: `Renamed ${++this.#sequence}` }),
        );
        if (reply.status === 200) this.confirmedChanges++;
        return reply;
      }
      case 'delete': {
        const index = Math.floor(Math.random() * this.#ids.length);
        const [id] = this.#ids.splice(index, 1);
        const reply = await this.#send('DELETE', `/api/users/${id}`);
        if (reply.status === 200 || reply.status === 204) this.confirmedChanges++;
        return reply;
      }
    }
  }

  #anyId(): string {
    return this.#ids[Math.floor(Math.random() * this.#ids.length)] ?? 'missing';
  }

  #recordCreated(body: string): void {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    if (typeof id !== 'string' || this.created.has(id)) return;
    this.created.add(id);
    this.#ids.push(id);
  }

  async #send(method: string, path: string, body?: string, idempotencyKey?: string): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    if (this.canary) headers['x-canary'] = 'true';
    const response = await this.#pool.request({
      method: method as 'GET',
      path,
      headers,
      body,
      signal: AbortSignal.timeout(this.#options.deadlineMs),
    });
    const text = await response.body.text();
    const subset = response.headers['x-meshkit-subset'];
    const attempts = Number(response.headers['x-meshkit-attempts']);
    return {
      status: response.statusCode,
      body: text,
      subset: typeof subset === 'string' ? subset : undefined,
      attempts: Number.isInteger(attempts) && attempts > 0 ? attempts : undefined,
    };
  }
}

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly subset: string | undefined;
  readonly attempts: number | undefined;
}
