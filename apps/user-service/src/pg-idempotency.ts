import { type Clock, systemClock } from '@meshkit/core';
import { checkInteger } from '@meshkit/core/internal';
import type { IdempotencyClaim, IdempotencyStore } from '@meshkit/http';
import type pg from 'pg';

/** Options of {@link pgIdempotencyStore}. */
export interface PgIdempotencyStoreOptions {
  /** How long a completed response is replayed, in ms. Defaults to 24 hours. */
  readonly ttlMs?: number;
  /** How long an unfinished claim (its process died) blocks the key, in ms. Defaults to 60,000. */
  readonly inProgressTtlMs?: number;
  readonly clock?: Clock;
}

interface Row {
  fingerprint: string;
  status: number | null;
  headers: Record<string, string> | null;
  body: Buffer | null;
}

/**
 * The HTTP kit's idempotency store on the service's PostgreSQL database (table `idempotency_keys`,
 * created by the migrations), so every instance of the service, on any host, shares the keys. A claim is
 * one `INSERT ... ON CONFLICT DO NOTHING`: of two instances racing on one key, exactly one wins. The pool
 * is the store's owner's: `close()` leaves it open.
 */
export function pgIdempotencyStore(pool: pg.Pool, options: PgIdempotencyStoreOptions = {}): IdempotencyStore {
  const ttlMs = checkInteger('pgIdempotencyStore.ttlMs', options.ttlMs ?? 86_400_000, 1);
  const inProgressTtlMs = checkInteger(
    'pgIdempotencyStore.inProgressTtlMs',
    options.inProgressTtlMs ?? 60_000,
    1,
  );
  const clock = options.clock ?? systemClock;
  const tryClaim = async (key: string, fingerprint: string, now: number): Promise<boolean> => {
    // An expired entry is replaced in the same statement, so a lapsed claim is taken over atomically.
    const result = await pool.query(
      `INSERT INTO idempotency_keys (key, fingerprint, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET fingerprint = $2, expires_at = $3, status = NULL, headers = NULL, body = NULL
         WHERE idempotency_keys.expires_at <= $4`,
      [key, fingerprint, now + inProgressTtlMs, now],
    );
    return result.rowCount === 1;
  };
  return {
    async claim(key, fingerprint): Promise<IdempotencyClaim> {
      const now = clock.now();
      if (await tryClaim(key, fingerprint, now)) {
        // A new key is the moment to drop expired ones (indexed on expires_at): the table stays bounded.
        await pool.query('DELETE FROM idempotency_keys WHERE expires_at <= $1', [now]);
        return { kind: 'new' };
      }
      const row = (
        await pool.query<Row>(
          'SELECT fingerprint, status, headers, body FROM idempotency_keys WHERE key = $1',
          [key],
        )
      ).rows[0];
      if (row === undefined)
        return (await tryClaim(key, fingerprint, now)) ? { kind: 'new' } : { kind: 'in-progress' };
      if (row.fingerprint !== fingerprint) return { kind: 'mismatch' };
      if (row.status === null) return { kind: 'in-progress' };
      return {
        kind: 'replay',
        response: {
          status: row.status,
          headers: row.headers ?? {},
          body: Buffer.from(row.body ?? Buffer.alloc(0)),
        },
      };
    },
    async complete(key, fingerprint, response) {
      await pool.query(
        'UPDATE idempotency_keys SET status = $1, headers = $2, body = $3, expires_at = $4 WHERE key = $5 AND fingerprint = $6',
        [
          response.status,
          JSON.stringify(response.headers),
          response.body,
          clock.now() + ttlMs,
          key,
          fingerprint,
        ],
      );
    },
    async release(key) {
      await pool.query('DELETE FROM idempotency_keys WHERE key = $1', [key]);
    },
    async close() {},
  };
}
