import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { isUserError } from './errors.ts';
import { pageTokens } from './page-token.ts';

const refused = (e: unknown) => isUserError(e) && e.kind === 'invalid-argument' && e.field === 'page_token';

describe('page tokens', () => {
  const tokens = pageTokens('sixteen bytes at least, here');

  it('round-trips a cursor through an opaque token', () => {
    const token = tokens.sign({ afterId: '0190-abc' });
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(tokens.open(token), { afterId: '0190-abc' });
  });

  it('refuses a token whose payload or signature was changed, or that another key signed', () => {
    const token = tokens.sign({ afterId: 'u-1' });
    const [payload, signature] = token.split('.') as [string, string];
    const otherPayload = Buffer.from(JSON.stringify({ v: 'u1', a: 'u-2' })).toString('base64url');
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`;
    for (const bad of [
      `${otherPayload}.${signature}`,
      `${payload}.${flipped}`,
      `${payload}.`,
      `.${signature}`,
      payload,
      pageTokens('another key of sixteen bytes').sign({ afterId: 'u-1' }),
      'x'.repeat(600),
    ]) {
      assert.throws(() => tokens.open(bad), refused, bad);
    }
  });

  it('refuses a signed token that does not hold a cursor', () => {
    const key = 'sixteen bytes at least, here';
    const forge = (value: unknown) => {
      const payload = Buffer.from(JSON.stringify(value)).toString('base64url');
      return `${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`;
    };
    for (const value of [{ v: 'u0', a: 'x' }, { v: 'u1', a: '' }, { v: 'u1', a: 3 }, null, 'text']) {
      assert.throws(() => tokens.open(forge(value)), refused, JSON.stringify(value));
    }
  });

  it('needs a key of 16 bytes or more', () => {
    assert.throws(() => pageTokens('short'), /pageTokenKey/);
  });
});
