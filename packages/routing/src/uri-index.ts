import type { HttpRuleSpec } from './model.ts';

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

/**
 * Narrows the rules of a host to those a uri can match, so selection at 100 rules does not try 100
 * matchers: a rule whose every match names a case-sensitive `exact` or `prefix` uri is filed in a
 * character trie under those literals; the others are candidates for every request. The candidates are
 * then tried in rule order, so the first match still wins.
 */
export class UriIndex {
  readonly #root = node();
  /** Rules that cannot be narrowed by uri, ascending. */
  readonly #always: number[] = [];
  readonly #indexed: boolean;
  /** Reused per call (selection is synchronous), so narrowing allocates nothing. */
  readonly #scratch: number[] = [];

  constructor(rules: readonly HttpRuleSpec[]) {
    let indexed = false;
    rules.forEach((rule, i) => {
      const literal =
        rule.match.length > 0 &&
        rule.match.every((m) => !m.ignoreUriCase && (m.uri?.kind === 'exact' || m.uri?.kind === 'prefix'));
      if (!literal) {
        this.#always.push(i);
        return;
      }
      indexed = true;
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
    });
    // Below a handful of rules, trying each is cheaper than walking the trie.
    this.#indexed = indexed && rules.length >= minRules;
  }

  /** `false` when no rule could be filed: every rule is a candidate for every uri. */
  get useful(): boolean {
    return this.#indexed;
  }

  /** The rules `uri` may match, ascending (a view valid until the next call). */
  candidates(uri: string): readonly number[] {
    const out = this.#scratch;
    out.length = 0;
    for (const i of this.#always) out.push(i);
    let at: TrieNode | undefined = this.#root;
    for (let c = 0; at !== undefined; c++) {
      for (const i of at.prefix) out.push(i);
      if (c === uri.length) {
        for (const i of at.exact) out.push(i);
        break;
      }
      at = at.next?.get(uri.charCodeAt(c));
    }
    // A handful of candidates in two or three ascending runs: insertion sort, no allocation.
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
