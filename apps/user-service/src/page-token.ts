import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '@meshkit/core';
import { invalid } from './errors.ts';

/** Shortest page-token key accepted, in bytes. */
export const minPageTokenKeyBytes = 16;

/** Where the next page starts: after the user with this id. */
export interface PageCursor {
  readonly afterId: string;
}

/** Signs and checks page tokens. */
export interface PageTokens {
  /** An opaque token for `cursor`. */
  sign(cursor: PageCursor): string;
  /** The cursor in `token`; a tampered, truncated or foreign token is a `UserError` on `field`. */
  open(token: string, field?: string): PageCursor;
}

const version = 'u1';

/**
 * Page tokens that clients cannot forge or alter: `base64url(JSON cursor) + '.' + base64url(HMAC-SHA256)`
 * under `key`. Every instance of the service must share the key, or a token issued by one is refused by
 * the others. The cursor is only base64url-encoded, not encrypted: it holds a user id, nothing secret.
 *
 * @example
 * ```ts
 * const tokens = pageTokens(process.env.PAGE_TOKEN_KEY ?? 'a development key, 16+ bytes');
 * const token = tokens.sign({ afterId: '0190a0f2-...' });
 * tokens.open(token).afterId;
 * ```
 */
export function pageTokens(key: string | Uint8Array): PageTokens {
  const secret = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
  if (secret.length < minPageTokenKeyBytes) {
    throw new InvalidArgumentError('pageTokenKey', `must be at least ${minPageTokenKeyBytes} bytes`);
  }
  const mac = (payload: string): Buffer => createHmac('sha256', secret).update(payload).digest();
  return {
    sign(cursor) {
      const payload = Buffer.from(JSON.stringify({ v: version, a: cursor.afterId })).toString('base64url');
      return `${payload}.${mac(payload).toString('base64url')}`;
    },
    open(token, field = 'page_token') {
      const refused = invalid(field, 'is not a page token this service issued');
      const dot = token.indexOf('.');
      if (dot <= 0 || token.length > 512) throw refused;
      const payload = token.slice(0, dot);
      const signature = Buffer.from(token.slice(dot + 1), 'base64url');
      const expected = mac(payload);
      if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) throw refused;
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      } catch {
        throw refused;
      }
      const { v, a } = (parsed ?? {}) as { v?: unknown; a?: unknown };
      if (v !== version || typeof a !== 'string' || a.length === 0) throw refused;
      return { afterId: a };
    },
  };
}
