import { InvalidArgumentError } from '@meshkit/core';
import { checkString } from '@meshkit/core/internal';
import {
  type IdempotencyClaim,
  type IdempotencyStore,
  type IdempotencyStoreOptions,
  resolveStoreOptions,
} from './idempotency.ts';

/**
 * The few Redis commands the store uses, as ioredis names them: pass an ioredis client (or anything
 * shaped like one). meshkit does not depend on a Redis client itself.
 */
export interface RedisCommands {
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<string | null>;
  set(key: string, value: string, px: 'PX', ms: number, xx: 'XX'): Promise<string | null>;
  get(key: string): Promise<string | null>;
  eval(script: string, keys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** Options of {@link redisIdempotencyStore}. The TTLs are Redis's own (`PX`); a `clock` has no effect. */
export interface RedisIdempotencyStoreOptions extends Omit<IdempotencyStoreOptions, 'clock'> {
  /** A connected client, e.g. `new Redis('redis://127.0.0.1:6379')` from ioredis. The caller closes it. */
  readonly redis: RedisCommands;
  /** Prefix of every key. Defaults to `meshkit:idempotency:`. */
  readonly keyPrefix?: string;
}

interface Stored {
  readonly f: string;
  readonly s?: number;
  readonly h?: Record<string, string>;
  readonly b?: string;
}

// Deletes the key only while it still holds our own pending claim (not a newer claimant's).
const releaseScript =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/**
 * An idempotency store in Redis, shared by every instance of a service: claims are `SET NX PX`, so two
 * instances never both run a key; completed responses are replayed until Redis expires them.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * const store = redisIdempotencyStore({ redis: new Redis('redis://127.0.0.1:6379'), ttlMs: 86_400_000 });
 * ```
 */
export function redisIdempotencyStore(options: RedisIdempotencyStoreOptions): IdempotencyStore {
  const redis = options?.redis;
  if (
    typeof redis?.set !== 'function' ||
    typeof redis.get !== 'function' ||
    typeof redis.eval !== 'function'
  ) {
    throw new InvalidArgumentError(
      'redisIdempotencyStore.redis',
      'must be a Redis client (set, get, eval)',
      redis,
    );
  }
  const prefix = checkString('redisIdempotencyStore.keyPrefix', options.keyPrefix ?? 'meshkit:idempotency:');
  const { ttlMs, inProgressTtlMs } = resolveStoreOptions(options, 'redisIdempotencyStore');
  const pending = (fingerprint: string): string => JSON.stringify({ f: fingerprint } satisfies Stored);

  return {
    async claim(key, fingerprint): Promise<IdempotencyClaim> {
      const k = prefix + key;
      for (let tries = 0; tries < 2; tries++) {
        if ((await redis.set(k, pending(fingerprint), 'PX', inProgressTtlMs, 'NX')) === 'OK')
          return { kind: 'new' };
        const raw = await redis.get(k);
        if (raw === null) continue; // expired between the two commands: claim again
        const stored = JSON.parse(raw) as Stored;
        if (stored.f !== fingerprint) return { kind: 'mismatch' };
        if (stored.s === undefined) return { kind: 'in-progress' };
        return {
          kind: 'replay',
          response: {
            status: stored.s,
            headers: stored.h ?? {},
            body: Buffer.from(stored.b ?? '', 'base64'),
          },
        };
      }
      return { kind: 'in-progress' };
    },
    async complete(key, fingerprint, response) {
      const value: Stored = {
        f: fingerprint,
        s: response.status,
        h: { ...response.headers },
        b: response.body.toString('base64'),
      };
      await redis.set(prefix + key, JSON.stringify(value), 'PX', ttlMs, 'XX');
    },
    async release(key) {
      // Only the claimant releases, and only while its claim is the one stored.
      const raw = await redis.get(prefix + key);
      if (raw === null) return;
      const stored = JSON.parse(raw) as Stored;
      if (stored.s === undefined) await redis.eval(releaseScript, 1, prefix + key, raw);
    },
    async close() {
      // The client belongs to the caller.
    },
  };
}
