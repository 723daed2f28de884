import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeAttributes, encodeAttributes, headerNames } from './envelope.ts';

describe('CloudEvents envelope', () => {
  it('round-trips the attributes through binary-mode headers', () => {
    const attrs = {
      id: 'e1',
      source: '/users',
      type: 'user.created',
      time: '2026-01-01T00:00:00.000Z',
      subject: '42',
      contentType: 'application/json',
    };
    const headers = encodeAttributes(attrs, { traceparent: 'tp' });
    assert.equal(headers['ce-specversion'], '1.0');
    assert.equal(headers.traceparent, 'tp');
    assert.deepEqual(decodeAttributes(headers), attrs);
  });

  it('extra headers never override the CloudEvents attributes', () => {
    const headers = encodeAttributes(
      { id: 'real', source: '/s', type: 't', time: 'x', contentType: 'application/json' },
      { 'ce-id': 'forged', 'ce-specversion': '0.3' },
    );
    assert.equal(headers['ce-id'], 'real');
    assert.equal(headers['ce-specversion'], '1.0');
  });

  it('names the first missing required attribute', () => {
    assert.deepEqual(decodeAttributes({}), { missing: headerNames.id });
    assert.deepEqual(decodeAttributes({ 'ce-id': 'x', 'ce-source': '/s', 'ce-type': 't' }), {
      missing: headerNames.specVersion,
    });
  });
});
