import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatIssue, loadRoutes, parseDurationMs, parseRoutes } from './index.ts';
import { virtualService } from './test-support.ts';

/** Every finding of `yaml`, formatted as the CLI prints it. */
function findings(yaml: string): string[] {
  return parseRoutes(yaml, 'routes/user-service.yaml').issues.map(formatIssue);
}

const destinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: svc }
spec:
  host: svc
  subsets:
  - { name: v1, labels: { version: v1 } }`;

describe('validation', () => {
  const cases: [string, string, string[]][] = [
    [
      'weights that do not sum to 100',
      `${destinationRule}\n---\n${virtualService(`  - route: [{ destination: { host: svc, subset: v1 } }]
  - route:
    - { destination: { host: svc, subset: v1 }, weight: 80 }
    - { destination: { host: svc, subset: v1 }, weight: 10 }`)}`,
      ['routes/user-service.yaml #2 spec.http[1].route: weights sum to 90, expected 100'],
    ],
    [
      'a subset the DestinationRule does not define',
      `${destinationRule}\n---\n${virtualService('  - route: [{ destination: { host: svc, subset: v3 } }]')}`,
      [
        'routes/user-service.yaml #2 spec.http[0].route[0].destination.subset: subset "v3" is not defined by DestinationRule "svc" (routes/user-service.yaml #1); it has "v1"',
      ],
    ],
    [
      'a bad duration and a bad percentage',
      virtualService(`  - route: [{ destination: { host: svc } }]
    timeout: 10 seconds
    fault: { abort: { httpStatus: 503, percentage: { value: 150 } } }`),
      [
        'routes/user-service.yaml #1 spec.http[0].timeout: expected a duration such as "2s", "500ms" or "1m", got "10 seconds"',
        'routes/user-service.yaml #1 spec.http[0].fault.abort.percentage.value: expected a number from 0 to 100, got 150',
      ],
    ],
    [
      'a rule without a destination, and a host missing',
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: x }
spec:
  http:
  - match: [{ uri: { prefix: /a } }]`,
      [
        'routes/user-service.yaml #1 spec.hosts: expected at least one host',
        'routes/user-service.yaml #1 spec.http[0].route: expected at least one destination (or a redirect)',
      ],
    ],
    [
      'a string match with two kinds, an invalid regex and an upper-case header',
      virtualService(`  - match:
    - uri: { exact: /a, prefix: /b }
      headers: { X-Canary: { exact: "true" }, x-id: { regex: "(" } }
    route: [{ destination: { host: svc } }]`),
      [
        'routes/user-service.yaml #1 spec.http[0].match[0].uri: expected one of exact, prefix or regex, got exact and prefix',
        'routes/user-service.yaml #1 spec.http[0].match[0].headers.X-Canary: header names must be lower case, as in Istio',
        'routes/user-service.yaml #1 spec.http[0].match[0].headers.x-id.regex: invalid regular expression: Invalid regular expression: /(/: Unterminated group',
      ],
    ],
    [
      'an unknown apiVersion and a YAML syntax error in the next document',
      'apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: { name: x }\nspec: { hosts: [a], http: [{ route: [{ destination: { host: a } }] }] }\n---\nkind: [unclosed\n',
      [
        'routes/user-service.yaml #1 apiVersion: expected networking.istio.io/v1 or networking.istio.io/v1beta1 or networking.istio.io/v1alpha3, got "networking.istio.io/v2"',
        'routes/user-service.yaml #2: YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 7, column 1',
      ],
    ],
  ];
  for (const [name, yaml, expected] of cases) {
    it(`rejects ${name}`, () => {
      const parsed = parseRoutes(yaml, 'routes/user-service.yaml');
      assert.equal(parsed.ok, false);
      assert.deepEqual(parsed.issues.filter((i) => i.severity === 'error').map(formatIssue), expected);
    });
  }

  it('warns about an unknown field with the nearest valid one, and loads', () => {
    const yaml = virtualService(`  - route: [{ destination: { host: svc } }]
    retries: { attempts: 2, retryOn: "5xx,gateway-eror", retryRemoteLocalities: true }
    timout: 1s`);
    assert.equal(parseRoutes(yaml).ok, true);
    assert.deepEqual(findings(yaml), [
      'warning: routes/user-service.yaml #1 spec.http[0].timout: unknown field (did you mean "timeout"?), ignored',
      'warning: routes/user-service.yaml #1 spec.http[0].retries.retryRemoteLocalities: ignored: meshkit has no locality-aware balancing; retries go to any endpoint of the subset',
      'warning: routes/user-service.yaml #1 spec.http[0].retries.retryOn: unknown condition "gateway-eror" (did you mean "gateway-error"?), ignored',
    ]);
  });

  it('warns at load, by name, about connectionPool and outlierDetection fields it does not apply', () => {
    assert.deepEqual(
      findings(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: svc }
spec:
  host: svc
  trafficPolicy:
    connectionPool:
      tcp: { connectTimeout: 1s }
      http: { http2MaxRequests: 10, maxRequestsPerConnection: 1, maxRetries: 3, idleTimeout: 30s }
    outlierDetection: { consecutive5xxErrors: 2, consecutiveLocalOriginFailures: 3 }`),
      [
        'warning: routes/user-service.yaml #1 spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection: not applied: each endpoint keeps its connection (HTTP/2) or pool (HTTP/1.1) for as long as it lives',
        "warning: routes/user-service.yaml #1 spec.trafficPolicy.connectionPool.http.maxRetries: not applied: retries are bounded by the route's retries and the client's retry budget",
        "warning: routes/user-service.yaml #1 spec.trafficPolicy.connectionPool.http.idleTimeout: not applied: idle connections follow the transport's own keep-alive settings",
        'warning: routes/user-service.yaml #1 spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures: ignored: not supported',
      ],
    );
  });

  it("loads the seed's retriable-status-500 with a warning, treating 500 as retriable", () => {
    const parsed = parseRoutes(
      virtualService(
        '  - route: [{ destination: { host: svc } }]\n    retries: { attempts: 3, retryOn: "connect-failure,retriable-status-500" }',
      ),
    );
    assert.equal(parsed.ok, true);
    assert.match(
      parsed.issues[0]!.message,
      /"retriable-status-500" is not an Envoy condition .*status 500 is treated as retriable/,
    );
    assert.deepEqual(parsed.config.virtualServices[0]!.http[0]!.retries?.retriableStatuses, [500]);
  });

  it('skips other kinds with a warning and reads several documents per file', () => {
    const parsed = parseRoutes(
      `apiVersion: v1\nkind: Service\nmetadata: { name: x }\n---\n${virtualService('  - route: [{ destination: { host: svc } }]')}\n---\n${destinationRule}`,
    );
    assert.equal(parsed.ok, true);
    assert.equal(parsed.config.virtualServices.length, 1);
    assert.equal(parsed.config.destinationRules.length, 1);
    assert.deepEqual(parsed.issues.map(formatIssue), [
      'warning: <inline> #1 kind: "Service" is not a VirtualService or DestinationRule, skipped',
    ]);
  });

  it('applies Istio defaults: one destination weighs 100, retries without retryOn use Istio’s conditions', () => {
    const parsed = parseRoutes(
      virtualService('  - route: [{ destination: { host: svc } }]\n    retries: { attempts: 2 }'),
    );
    const rule = parsed.config.virtualServices[0]!.http[0]!;
    assert.equal(rule.route[0]!.weight, 100);
    assert.deepEqual(rule.retries, {
      attempts: 2,
      perTryTimeoutMs: undefined,
      retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
      retriableStatuses: [503],
    });
  });

  it('parses Istio durations', () => {
    assert.equal(parseDurationMs('2s'), 2_000);
    assert.equal(parseDurationMs('500ms'), 500);
    assert.equal(parseDurationMs('1.5s'), 1_500);
    assert.equal(parseDurationMs('1m'), 60_000);
    assert.equal(parseDurationMs('1h'), 3_600_000);
    assert.equal(parseDurationMs('1m30s'), 90_000);
    assert.equal(parseDurationMs('250us'), 0.25);
    assert.equal(parseDurationMs('2'), undefined);
    assert.equal(parseDurationMs('s'), undefined);
    assert.equal(parseDurationMs(''), undefined);
  });
});

describe('loading files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshkit-load-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reports a path that does not exist', async () => {
    const parsed = await loadRoutes(join(dir, 'missing.yaml'));
    assert.equal(parsed.ok, false);
    assert.match(formatIssue(parsed.issues[0]!), /missing.yaml #0: cannot read: ENOENT/);
  });

  it('reads the .yaml and .yml files of a directory in name order, and nothing else', async () => {
    const sub = await mkdtemp(join(dir, 'd-'));
    await writeFile(
      join(sub, 'b.yml'),
      virtualService('  - route: [{ destination: { host: svc, subset: b } }]', ['svc']),
    );
    await writeFile(
      join(sub, 'a.yaml'),
      virtualService('  - route: [{ destination: { host: svc, subset: a } }]', ['svc']),
    );
    await writeFile(join(sub, 'notes.txt'), 'not yaml: [');
    const parsed = await loadRoutes(sub);
    assert.equal(parsed.ok, true);
    assert.deepEqual(
      parsed.config.virtualServices.map((vs) => vs.source.file.slice(sub.length + 1)),
      ['a.yaml', 'b.yml'],
    );
    // Two VirtualServices for one host: the first (by file name) is used, the second warned about.
    assert.match(
      parsed.issues.find((i) => i.path === 'spec.hosts[0]')!.message,
      /host "svc" is already routed by VirtualService "test" \(.*a.yaml #1\); this one is not used for it/,
    );
  });

  it('refuses an oversize file unread, and an alias bomb', async () => {
    const big = join(dir, 'big.yaml');
    await writeFile(big, `# ${'x'.repeat(1 << 20)}\n`);
    assert.match((await loadRoutes(big)).issues[0]!.message, /more than the 1048576 a routing file may have/);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(', ')}]`,
      );
    const parsed = parseRoutes(bomb.join('\n'));
    assert.equal(parsed.ok, false);
    assert.match(parsed.issues[0]!.message, /^YAML: .*alias/i);
  });
});
