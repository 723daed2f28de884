import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { edgeIdentity, isValidTraceparent, newTraceparent } from './trace.ts';

describe('edge identity', () => {
  it('accepts W3C traceparents and refuses the malformed ones', () => {
    assert.ok(isValidTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'));
    // A later version may append fields; version ff never exists.
    assert.ok(isValidTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra'));
    for (const bad of [
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01',
      'garbage',
      '',
    ]) {
      assert.equal(isValidTraceparent(bad), false, bad);
    }
    assert.ok(isValidTraceparent(newTraceparent()));
    assert.notEqual(newTraceparent(), newTraceparent());
  });

  it('keeps a plausible request id, replaces an implausible one, and drops tracestate with a bad traceparent', () => {
    assert.equal(edgeIdentity({ 'x-request-id': 'abc-123' }).requestId, 'abc-123');
    for (const bad of ['', 'has space', 'x'.repeat(129)]) {
      assert.match(edgeIdentity({ 'x-request-id': bad }).requestId, /^[0-9a-f-]{36}$/, JSON.stringify(bad));
    }
    const kept = edgeIdentity({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'a=1',
    });
    assert.equal(kept.tracestate, 'a=1');
    const replaced = edgeIdentity({ traceparent: 'nonsense', tracestate: 'a=1' });
    assert.ok(isValidTraceparent(replaced.traceparent));
    assert.equal(replaced.tracestate, undefined);
  });
});
