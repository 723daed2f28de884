import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addForwarded } from './forwarded.ts';
import { endToEnd } from './hop-by-hop.ts';
import { matchMount } from './upstream-request.ts';

describe('proxy headers', () => {
  it('drops every field named by any Connection line, case-insensitively', () => {
    const out = endToEnd({
      connection: ['close, X-A', ' x-b '],
      'x-a': '1',
      'x-b': '2',
      'proxy-foo': '3',
      trailer: 'x-c',
      'x-c': 'kept: only announced as a trailer',
      'set-cookie': ['a=1', 'b=2'],
    });
    assert.deepEqual(out, { 'x-c': 'kept: only announced as a trailer', 'set-cookie': ['a=1', 'b=2'] });
  });

  it('brackets and quotes IPv6 in Forwarded, quotes a host with a port, and appends to earlier hops', () => {
    const headers: Record<string, string | string[]> = {
      forwarded: 'for=192.0.2.60;proto=https',
      'x-forwarded-for': '192.0.2.60',
    };
    addForwarded(headers, { clientIp: '2001:db8::1', proto: 'http', host: 'api.example.com:8443' });
    assert.equal(
      headers.forwarded,
      'for=192.0.2.60;proto=https, for="[2001:db8::1]";host="api.example.com:8443";proto=http',
    );
    assert.equal(headers['x-forwarded-for'], '192.0.2.60, 2001:db8::1');
    assert.equal(headers['x-forwarded-host'], 'api.example.com:8443');
  });

  it('matches a mount at its prefix or below, never a longer sibling, and rewrites the path', () => {
    const mounts = [{ mount: { prefix: '/api/users', service: 'user-service', rewrite: '/users' } }];
    assert.equal(matchMount(mounts, '/api/users')?.upstreamPath, '/users');
    assert.equal(matchMount(mounts, '/api/users?page_size=2')?.upstreamPath, '/users?page_size=2');
    assert.equal(matchMount(mounts, '/api/users/42/x')?.upstreamPath, '/users/42/x');
    assert.equal(matchMount(mounts, '/api/usersX'), undefined);
    assert.equal(matchMount(mounts, '/api'), undefined);
    const root = [{ mount: { prefix: '/svc', service: 's', rewrite: '/' } }];
    assert.equal(matchMount(root, '/svc')?.upstreamPath, '/');
    assert.equal(matchMount(root, '/svc?q=1')?.upstreamPath, '/?q=1');
    assert.equal(matchMount(root, '/svc/a')?.upstreamPath, '/a');
  });
});
