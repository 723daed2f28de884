import { createHash } from 'node:crypto';
import { type Clock, checkInteger, systemClock } from '@meshkit/core';

/** A response as the idempotency store keeps it, to replay byte for byte. */
export interface StoredResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** What {@link IdempotencyStore.claim} found for a key. */
export type IdempotencyClaim =
  /** First use: the caller runs the request, then `complete`s or `release`s the key. */
  | { readonly kind: 'new' }
  /** The same request already finished: replay its response. */
  | { readonly kind: 'replay'; readonly response: StoredResponse }
  /** The key was used for a different request (method, path or body): answer 409. */
  | { readonly kind: 'mismatch' }
  /** The same request is running right now: answer 409 with `Retry-After`. */
  | { readonly kind: 'in-progress' };

/**
 * Where the server kit remembers idempotency keys. A key is claimed before the handler runs, so two
 * concurrent requests with one key never both do the work.
 */
export interface IdempotencyStore {
  /** Claims `key` for the request with `fingerprint`, or reports what an earlier use left. */
  claim(key: string, fingerprint: string): Promise<IdempotencyClaim>;
  /** Stores the response of a claimed key; later claims replay it until the TTL passes. */
  complete(key: string, fingerprint: string, response: StoredResponse): Promise<void>;
  /** Forgets a claimed key whose request failed, so a retry can run it again. */
  release(key: string): Promise<void>;
  /** Releases the store's resources. */
  close(): Promise<void>;
}

/** Options shared by the stores. */
export interface IdempotencyStoreOptions {
  /** How long a completed response is replayed, in ms. Defaults to 24 hours. */
  readonly ttlMs?: number;
  /**
   * How long a claim whose request never finished (the process died) blocks the key, in ms.
   * Defaults to 60,000.
   */
  readonly inProgressTtlMs?: number;
  /** The clock TTLs are measured on. Defaults to the system clock. */
  readonly clock?: Clock;
}

/** Validated form of {@link IdempotencyStoreOptions}. */
export interface ResolvedStoreOptions {
  readonly ttlMs: number;
  readonly inProgressTtlMs: number;
  readonly clock: Clock;
}

/** Checks {@link IdempotencyStoreOptions}, naming the field under `field`. */
export function resolveStoreOptions(options: IdempotencyStoreOptions, field: string): ResolvedStoreOptions {
  return {
    ttlMs: checkInteger(`${field}.ttlMs`, options.ttlMs ?? 86_400_000, 1),
    inProgressTtlMs: checkInteger(`${field}.inProgressTtlMs`, options.inProgressTtlMs ?? 60_000, 1),
    clock: options.clock ?? systemClock,
  };
}

interface Entry {
  readonly fingerprint: string;
  readonly expiresAt: number;
  readonly response: StoredResponse | undefined;
}

/** Options of {@link memoryIdempotencyStore}. */
export interface MemoryIdempotencyStoreOptions extends IdempotencyStoreOptions {
  /** At most this many keys are kept; the oldest are dropped first. Defaults to 100,000. */
  readonly maxEntries?: number;
}

/**
 * An idempotency store in this process's memory: right for one instance, or behind a balancer that
 * pins keys to instances. Several instances need a shared store (SQLite on one host, Redis).
 *
 * @example
 * ```ts
 * httpServer({
 *   service: 'orders',
 *   handler: async (req) => ({ status: 201, body: { order: await req.json() } }),
 *   idempotency: { store: memoryIdempotencyStore({ ttlMs: 3_600_000 }) },
 * });
 * ```
 */
export function memoryIdempotencyStore(options: MemoryIdempotencyStoreOptions = {}): IdempotencyStore {
  const { ttlMs, inProgressTtlMs, clock } = resolveStoreOptions(options, 'memoryIdempotencyStore');
  const maxEntries = checkInteger('memoryIdempotencyStore.maxEntries', options.maxEntries ?? 100_000, 1);
  // A Map iterates in insertion order, so the first keys are the oldest.
  const entries = new Map<string, Entry>();
  const evict = (now: number): void => {
    for (const [key, entry] of entries) {
      if (entry.expiresAt > now && entries.size < maxEntries) break;
      entries.delete(key);
    }
  };
  return {
    async claim(key, fingerprint) {
      const now = clock.now();
      const entry = entries.get(key);
      if (entry !== undefined && entry.expiresAt > now) {
        if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' };
        return entry.response === undefined
          ? { kind: 'in-progress' }
          : { kind: 'replay', response: entry.response };
      }
      entries.delete(key);
      evict(now);
      entries.set(key, { fingerprint, expiresAt: now + inProgressTtlMs, response: undefined });
      return { kind: 'new' };
    },
    async complete(key, fingerprint, response) {
      entries.delete(key);
      entries.set(key, { fingerprint, expiresAt: clock.now() + ttlMs, response });
    },
    async release(key) {
      entries.delete(key);
    },
    async close() {
      entries.clear();
    },
  };
}

/** What identifies "the same request" under one key: method, target and body bytes. */
export function requestFingerprint(method: string, target: string, body: Buffer | string): string {
  return createHash('sha256').update(`${method} ${target}\n`).update(body).digest('base64url');
}
