import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContext } from '@meshkit/core';
import fc from 'fast-check';
import { routing } from './index.ts';
import { table, testAdapter, virtualService } from './test-support.ts';

/** One generated match: a uri condition and at most one header condition. */
interface GenMatch {
  uri?: { kind: 'exact' | 'prefix' | 'regex'; value: string; ignoreCase: boolean };
  header?: { name: string; kind: 'exact' | 'prefix' | 'present'; value: string };
}

const segment = fc.constantFrom('a', 'b', 'ab', 'users', 'Users', '1');
const literal = fc.array(segment, { minLength: 0, maxLength: 3 }).map((s) => `/${s.join('/')}`);
const genMatch: fc.Arbitrary<GenMatch> = fc.record(
  {
    uri: fc.record({
      // Mostly literal, case-sensitive uris: the rules the uri index files.
      kind: fc.constantFrom('exact', 'exact', 'prefix', 'prefix', 'regex'),
      value: literal,
      ignoreCase: fc.constantFrom(false, false, false, true),
    }),
    header: fc.record({
      name: fc.constantFrom('x-a', 'x-b'),
      kind: fc.constantFrom('exact', 'prefix', 'present'),
      value: fc.constantFrom('1', '12', 'true'),
    }),
  },
  { requiredKeys: ['uri'] },
);
const genRule = fc.oneof(
  { weight: 1, arbitrary: fc.constant([] as GenMatch[]) },
  { weight: 6, arbitrary: fc.array(genMatch, { minLength: 1, maxLength: 3 }) },
);
// From 1 rule (tried one by one) to 16 (narrowed by the uri index from 8 on).
const genRules = fc.array(genRule, { minLength: 1, maxLength: 16 });
/** Tenant-style tables: rules told apart by an exact header value, which the header index files. */
const genHeaderRules = fc.array(
  fc.array(
    fc.record({
      header: fc.record({
        name: fc.constantFrom('x-a', 'x-a', 'x-a', 'x-b'),
        kind: fc.constantFrom('exact', 'exact', 'exact', 'prefix', 'present'),
        value: fc.constantFrom('1', '12', 'true'),
      }),
      uri: fc.option(
        fc.record({
          kind: fc.constantFrom('regex', 'prefix'),
          value: literal,
          ignoreCase: fc.constant(true),
        }),
        { nil: undefined, freq: 3 },
      ),
    }),
    { minLength: 1, maxLength: 2 },
  ),
  { minLength: 6, maxLength: 16 },
);
const genRequest = fc.record({
  path: fc.tuple(literal, fc.constantFrom('', '/', '?q=1')).map(([p, s]) => p + s),
  headers: fc.dictionary(fc.constantFrom('x-a', 'x-b'), fc.constantFrom('1', '12', 'true', '')),
});

/** The obvious reading of Istio's semantics, written independently of the compiled matchers. */
function reference(
  rules: GenMatch[][],
  req: { path: string; headers: Record<string, string> },
): number | undefined {
  const uri = req.path.split('?')[0]!;
  const test = (kind: string, expected: string, actual: string) =>
    kind === 'exact'
      ? actual === expected
      : kind === 'prefix'
        ? actual.startsWith(expected)
        : kind === 'present'
          ? true
          : new RegExp(`^(?:${expected})$`).test(actual);
  const one = (m: GenMatch) => {
    if (m.uri !== undefined) {
      const fold = (s: string) => (m.uri!.ignoreCase ? s.toLowerCase() : s);
      if (!test(m.uri.kind, fold(m.uri.value), fold(uri))) return false;
    }
    if (m.header !== undefined) {
      const v = req.headers[m.header.name];
      if (v === undefined || !test(m.header.kind, m.header.value, v)) return false;
    }
    return true;
  };
  const i = rules.findIndex((matches) => matches.length === 0 || matches.some(one));
  return i < 0 ? undefined : i;
}

function yaml(rules: GenMatch[][]): string {
  return virtualService(
    rules
      .map((matches, i) => {
        const ms = matches
          .map((m) => {
            const parts: string[] = [];
            if (m.uri !== undefined) {
              parts.push(`uri: { ${m.uri.kind}: ${JSON.stringify(m.uri.value)} }`);
              if (m.uri.ignoreCase) parts.push('ignoreUriCase: true');
            }
            if (m.header !== undefined) {
              const sm =
                m.header.kind === 'present'
                  ? '{}'
                  : `{ ${m.header.kind}: ${JSON.stringify(m.header.value)} }`;
              parts.push(`headers: { ${m.header.name}: ${sm} }`);
            }
            return `    - { ${parts.join(', ')} }`;
          })
          .join('\n');
        return `  - name: r${i}\n${matches.length > 0 ? `    match:\n${ms}\n` : ''}    route: [{ destination: { host: svc } }]`;
      })
      .join('\n'),
  );
}

describe('match semantics against a reference implementation', () => {
  for (const [name, rulesOf] of [
    ['uri', genRules],
    ['header', genHeaderRules as fc.Arbitrary<GenMatch[][]>],
  ] as const) {
    it(`selects the same rule as the obvious reading, first match wins (${name}-heavy tables)`, () => {
      fc.assert(
        fc.property(rulesOf, fc.array(genRequest, { minLength: 1, maxLength: 10 }), (rules, requests) => {
          const layer = routing({ routes: table(yaml(rules)), host: 'svc', adapter: testAdapter });
          for (const req of requests) {
            const expected = reference(rules, req);
            const got = layer.decide({ method: 'GET', ...req }, createContext())?.rule;
            assert.equal(
              got,
              expected === undefined ? undefined : `r${expected}`,
              `${req.path} ${JSON.stringify(req.headers)}`,
            );
          }
        }),
        { numRuns: 300 },
      );
    });
  }
});
