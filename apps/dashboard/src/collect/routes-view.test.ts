import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRoutes } from '@meshkit/routing';
import { keySep } from './frame.ts';
import { shortHost, summarizeRoutes } from './routes-view.ts';

const yaml = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: users
spec:
  hosts:
    - user-service.prod.svc.cluster.local
  http:
    - name: canary
      match:
        - uri:
            prefix: /users
          method:
            exact: GET
        - queryParams:
            beta: {}
      route:
        - destination:
            host: user-service
            subset: v2
    - route:
        - destination:
            host: user-service
            subset: v1
          weight: 75
        - destination:
            host: legacy-users
          weight: 25
`;

describe('summarizeRoutes', () => {
  it('describes matches and weights, names other hosts, and compares with the observed split', () => {
    const parsed = parseRoutes(yaml);
    const observed = new Map([
      [`user-service${keySep}v1`, 30],
      [`user-service${keySep}v2`, 10],
      [`notifier${keySep}v1`, 99],
    ]);
    const [view] = summarizeRoutes(parsed.config, observed, (n) => n / 2);
    assert.equal(view?.host, 'user-service');
    assert.deepEqual(
      view?.rules.map((r) => [r.name, r.match, r.destinations.map((d) => `${d.subset}:${d.weight}`)]),
      [
        ['canary', 'uri prefix /users and method=GET or query beta present', ['v2:100']],
        ['rule 2', 'all requests', ['v1:75', 'legacy-users/all:25']],
      ],
    );
    assert.deepEqual(view?.observed, [
      { subset: 'v1', percent: 75, rate: 15 },
      { subset: 'v2', percent: 25, rate: 5 },
    ]);
  });

  it('reads cluster names as the short service name, and nothing without routes', () => {
    assert.equal(shortHost('user-service.prod.svc.cluster.local'), 'user-service');
    assert.equal(shortHost('api.example.com'), 'api.example.com');
    assert.deepEqual(
      summarizeRoutes(undefined, new Map(), (n) => n),
      [],
    );
  });
});
