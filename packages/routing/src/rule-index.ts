import type { RouteRequest } from './match.ts';
import type { HttpRuleSpec, MatchSpec } from './model.ts';

interface TrieNode {
  next: Map<number, TrieNode> | undefined;
  /** Rules with a `prefix` ending here: candidates for any uri passing through this node. */
  prefix: number[];
  /** Rules with an `exact` uri ending here: candidates for a uri ending here. */
  exact: number[];
}

/** Hosts with fewer rules are matched by trying each rule. */
const minRules = 8;

const node = (): TrieNode => ({ next: undefined, prefix: [], exact: [] });

/** Whether `m` can only match uris starting with (or equal to) its case-sensitive literal. */
const literalUri = (m: MatchSpec): boolean =>
  !m.ignoreUriCase && (m.uri?.kind === 'exact' || m.uri?.kind === 'prefix');

/** The value `m` requires of header `name` exactly, if it does. */
const exactHeader = (m: MatchSpec, name: string): string | undefined => {
  for (const [h, sm] of m.headers) if (h === name && sm.kind === 'exact') return sm.value;
  return undefined;
};

/**
 * Narrows the rules of a host to those a request can match, so selection at 100 rules does not try 100
 * matchers. A rule whose every match names a case-sensitive `exact` or `prefix` uri is filed in a
 * character trie under those literals; else, a rule whose every match requires an exact value of the
 * header most such rules use (a tenant, a version) is filed under those values; the others are
 * candidates for every request. The candidates are then tried in rule order, so the first match still
 * wins.
 */
export class RuleIndex {
  readonly #root = node();
  /** Rules that cannot be narrowed, ascending. */
  readonly #always: number[] = [];
  /** The header whose exact values file the rules the uri cannot. */
  readonly #header: string | undefined;
  readonly #byHeader = new Map<string, number[]>();
  readonly #useful: boolean;
  /** Reused per call (selection is synchronous), so narrowing allocates nothing. */
  readonly #scratch: number[] = [];

  constructor(rules: readonly HttpRuleSpec[]) {
    const rest: number[] = [];
    rules.forEach((rule, i) => {
      if (rule.match.length > 0 && rule.match.every(literalUri)) this.#fileUri(rule, i);
      else rest.push(i);
    });
    this.#header = commonExactHeader(rules, rest);
    for (const i of rest) {
      const matches = rules[i]!.match;
      const values =
        this.#header === undefined || matches.length === 0
          ? undefined
          : matches.map((m) => exactHeader(m, this.#header!));
      if (values === undefined || values.includes(undefined)) {
        this.#always.push(i);
        continue;
      }
      for (const v of new Set(values as string[])) {
        const list = this.#byHeader.get(v);
        if (list === undefined) this.#byHeader.set(v, [i]);
        else list.push(i);
      }
    }
    // Below a handful of rules, or with none filed, trying each is cheaper than narrowing.
    this.#useful = rules.length >= minRules && this.#always.length < rules.length;
  }

  #fileUri(rule: HttpRuleSpec, i: number): void {
    for (const m of rule.match) {
      let at = this.#root;
      const text = m.uri!.value;
      for (let c = 0; c < text.length; c++) {
        at.next ??= new Map();
        let child = at.next.get(text.charCodeAt(c));
        if (child === undefined) {
          child = node();
          at.next.set(text.charCodeAt(c), child);
        }
        at = child;
      }
      const list = m.uri!.kind === 'prefix' ? at.prefix : at.exact;
      if (list[list.length - 1] !== i) list.push(i);
    }
  }

  /** `false` when narrowing does not pay: every rule is tried. */
  get useful(): boolean {
    return this.#useful;
  }

  /** The rules `request` may match, ascending (a view valid until the next call). */
  candidates(request: RouteRequest, uri: string): readonly number[] {
    const out = this.#scratch;
    out.length = 0;
    for (const i of this.#always) out.push(i);
    if (this.#header !== undefined) {
      const value = request.headers[this.#header];
      const filed = value === undefined ? undefined : this.#byHeader.get(value);
      if (filed !== undefined) for (const i of filed) out.push(i);
    }
    let at: TrieNode | undefined = this.#root;
    for (let c = 0; at !== undefined; c++) {
      for (const i of at.prefix) out.push(i);
      if (c === uri.length) {
        for (const i of at.exact) out.push(i);
        break;
      }
      at = at.next?.get(uri.charCodeAt(c));
    }
    // A handful of candidates in a few ascending runs: insertion sort, no allocation.
    for (let i = 1; i < out.length; i++) {
      const v = out[i]!;
      let j = i - 1;
      while (j >= 0 && out[j]! > v) {
        out[j + 1] = out[j]!;
        j--;
      }
      out[j + 1] = v;
    }
    return out;
  }
}

/** The header name that the most of `indices`' rules require exactly in every match. */
function commonExactHeader(rules: readonly HttpRuleSpec[], indices: readonly number[]): string | undefined {
  const counts = new Map<string, number>();
  for (const i of indices) {
    const matches = rules[i]!.match;
    if (matches.length === 0) continue;
    for (const [name, sm] of matches[0]!.headers) {
      if (sm.kind !== 'exact') continue;
      if (matches.every((m) => exactHeader(m, name) !== undefined))
        counts.set(name, (counts.get(name) ?? 0) + 1);
    }
  }
  let best: string | undefined;
  let bestCount = 1;
  for (const [name, count] of counts) {
    if (count > bestCount) {
      best = name;
      bestCount = count;
    }
  }
  return best;
}
