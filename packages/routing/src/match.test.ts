import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContext } from '@meshkit/core';
import { routing } from './index.ts';
import { get, type TestRequest, table, testAdapter, virtualService } from './test-support.ts';

const ctx = createContext();

/** Which subset a request is routed to, for a table whose rules route `m` to `yes` and else to `no`. */
function routeOf(
  match: string,
  req: TestRequest,
  options: { sourceLabels?: Record<string, string> } = {},
): string {
  const t = table(
    virtualService(`  - match:
${match}
    route:
    - destination: { host: svc, subset: yes }
  - route:
    - destination: { host: svc, subset: no }`),
  );
  const layer = routing({ routes: t, host: 'svc', adapter: testAdapter, ...options });
  return layer.decide(req, ctx)?.subset ?? 'none';
}

describe('match', () => {
  it('uri exact, prefix and regex (the whole path, without the query string)', () => {
    assert.equal(routeOf('    - uri: { exact: /users }', get('/users?x=1')), 'yes');
    assert.equal(routeOf('    - uri: { exact: /users }', get('/users/1')), 'no');
    assert.equal(routeOf('    - uri: { prefix: /users/ }', get('/users/1')), 'yes');
    assert.equal(routeOf('    - uri: { prefix: /users/ }', get('/user')), 'no');
    assert.equal(routeOf("    - uri: { regex: '/users/[0-9]+' }", get('/users/42')), 'yes');
    assert.equal(routeOf("    - uri: { regex: '/users/[0-9]+' }", get('/users/42/orders')), 'no', 'anchored');
  });

  it('ignoreUriCase', () => {
    assert.equal(routeOf('    - uri: { prefix: /Users }\n      ignoreUriCase: true', get('/USERS/1')), 'yes');
    assert.equal(routeOf('    - uri: { prefix: /Users }', get('/USERS/1')), 'no');
  });

  it('method', () => {
    assert.equal(routeOf('    - method: { exact: POST }', { ...get('/'), method: 'POST' }), 'yes');
    assert.equal(routeOf('    - method: { exact: POST }', get('/')), 'no');
  });

  it('headers exact, prefix, regex and presence', () => {
    assert.equal(
      routeOf('    - headers: { x-canary: { exact: "true" } }', get('/', { 'x-canary': 'true' })),
      'yes',
    );
    assert.equal(
      routeOf('    - headers: { x-canary: { exact: "true" } }', get('/', { 'x-canary': 'TRUE' })),
      'no',
    );
    assert.equal(routeOf('    - headers: { x-canary: { exact: "true" } }', get('/')), 'no');
    assert.equal(
      routeOf('    - headers: { user-agent: { prefix: curl/ } }', get('/', { 'user-agent': 'curl/8' })),
      'yes',
    );
    assert.equal(
      routeOf("    - headers: { x-id: { regex: '[a-f]+' } }", get('/', { 'x-id': 'cafe' })),
      'yes',
    );
    assert.equal(
      routeOf("    - headers: { x-id: { regex: '[a-f]+' } }", get('/', { 'x-id': 'cafe1' })),
      'no',
    );
    assert.equal(routeOf('    - headers: { x-debug: {} }', get('/', { 'x-debug': '' })), 'yes');
    assert.equal(routeOf('    - headers: { x-debug: {} }', get('/')), 'no');
  });

  it('withoutHeaders', () => {
    assert.equal(routeOf('    - withoutHeaders: { x-canary: { exact: "true" } }', get('/')), 'yes');
    assert.equal(
      routeOf('    - withoutHeaders: { x-canary: { exact: "true" } }', get('/', { 'x-canary': 'true' })),
      'no',
    );
  });

  it('queryParams', () => {
    assert.equal(routeOf('    - queryParams: { v: { exact: "2" } }', get('/x?a=1&v=2')), 'yes');
    assert.equal(routeOf('    - queryParams: { v: { exact: "2" } }', get('/x?v=3')), 'no');
    assert.equal(routeOf("    - queryParams: { v: { regex: '\\d+' } }", get('/x?v=33')), 'yes');
    assert.equal(routeOf('    - queryParams: { v: { prefix: be } }', get('/x?v=beta')), 'yes');
  });

  it('authority, port and sourceLabels', () => {
    assert.equal(routeOf('    - authority: { prefix: svc }', get('/')), 'yes', 'the routed host by default');
    assert.equal(routeOf('    - port: 8080', get('/', {}, { port: 8080 })), 'yes');
    assert.equal(routeOf('    - port: 8080', get('/', {}, { port: 9090 })), 'no');
    assert.equal(
      routeOf('    - sourceLabels: { app: web }', get('/'), { sourceLabels: { app: 'web', v: '1' } }),
      'yes',
    );
    assert.equal(
      routeOf('    - sourceLabels: { app: web }', get('/'), { sourceLabels: { app: 'cli' } }),
      'no',
    );
  });

  it('ANDs the fields of one match and ORs the matches', () => {
    const and = '    - uri: { prefix: /a }\n      headers: { x: { exact: "1" } }';
    assert.equal(routeOf(and, get('/a', { x: '1' })), 'yes');
    assert.equal(routeOf(and, get('/a')), 'no');
    assert.equal(routeOf(and, get('/b', { x: '1' })), 'no');
    const or = '    - uri: { prefix: /a }\n    - headers: { x: { exact: "1" } }';
    assert.equal(routeOf(or, get('/a')), 'yes');
    assert.equal(routeOf(or, get('/b', { x: '1' })), 'yes');
    assert.equal(routeOf(or, get('/b')), 'no');
  });

  it('a gRPC call matches on its HTTP/2 path and metadata', () => {
    const grpc = (metadata: Record<string, string>): TestRequest => ({
      method: 'POST',
      path: '/user.UserService/GetUser',
      headers: { 'content-type': 'application/grpc', ...metadata },
    });
    const match =
      '    - uri: { exact: /user.UserService/GetUser }\n      headers: { x-tenant: { exact: acme } }';
    assert.equal(routeOf(match, grpc({ 'x-tenant': 'acme' })), 'yes');
    assert.equal(routeOf(match, grpc({ 'x-tenant': 'other' })), 'no');
    assert.equal(routeOf('    - uri: { prefix: /user.UserService/ }', grpc({})), 'yes');
  });

  it('the first matching rule wins, in the order written', () => {
    const t = table(
      virtualService(`  - name: narrow
    match: [{ uri: { prefix: /users/admin } }]
    route: [{ destination: { host: svc, subset: admin } }]
  - name: wide
    match: [{ uri: { prefix: /users } }]
    route: [{ destination: { host: svc, subset: users } }]
  - name: also-admin
    match: [{ uri: { prefix: /users/admin } }]
    route: [{ destination: { host: svc, subset: never } }]`),
    );
    const layer = routing({ routes: t, host: 'svc', adapter: testAdapter });
    assert.equal(layer.decide(get('/users/admin/1'), ctx)?.rule, 'narrow');
    assert.equal(layer.decide(get('/users/7'), ctx)?.rule, 'wide');
    assert.equal(layer.decide(get('/orders'), ctx), undefined, 'no rule matches');
  });
});
