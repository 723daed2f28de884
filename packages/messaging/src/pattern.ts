import { InvalidArgumentError } from '@meshkit/core';

/**
 * AMQP topic-exchange matching: topics and patterns are dot-separated words; in a pattern `*` matches
 * exactly one word and `#` matches zero or more words. A pattern without wildcards matches only itself.
 */

/** A compiled pattern: a predicate over topics. */
export type TopicMatcher = (topic: string) => boolean;

/**
 * Compiles an AMQP topic pattern.
 *
 * @example
 * ```ts
 * const m = compilePattern('user.*');
 * m('user.created'); // true
 * m('user.created.v2'); // false; compilePattern('user.#') matches both, and 'user' too
 * ```
 */
export function compilePattern(pattern: string): TopicMatcher {
  checkPattern('pattern', pattern);
  const words = pattern.split('.');
  if (!words.some((w) => w === '*' || w === '#')) return (topic) => topic === pattern;
  return (topic) => matchWords(words, topic.split('.'));
}

/** `true` when `topic` matches `pattern` (see {@link compilePattern}). */
export function matchTopic(pattern: string, topic: string): boolean {
  return compilePattern(pattern)(topic);
}

/** A matcher for any of several patterns, caching answers per topic (topic sets are small). */
export function compilePatterns(patterns: readonly string[]): TopicMatcher {
  const matchers = patterns.map(compilePattern);
  const cache = new Map<string, boolean>();
  return (topic) => {
    let hit = cache.get(topic);
    if (hit === undefined) {
      hit = matchers.some((m) => m(topic));
      if (cache.size > 10_000) cache.clear();
      cache.set(topic, hit);
    }
    return hit;
  };
}

/** Throws {@link InvalidArgumentError} unless `value` is a valid pattern (non-empty words). */
export function checkPattern(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.split('.').some((w) => w.length === 0)) {
    throw new InvalidArgumentError(field, 'must be dot-separated non-empty words', value);
  }
  return value;
}

/** Throws unless `value` is a concrete topic (no wildcards). */
export function checkTopic(field: string, value: unknown): string {
  checkPattern(field, value);
  if ((value as string).split('.').some((w) => w === '*' || w === '#')) {
    throw new InvalidArgumentError(field, 'must not contain the wildcards * or #', value);
  }
  return value as string;
}

/** Iterative matching with `#` backtracking, linear in practice; no regular expressions, so no ReDoS. */
function matchWords(pattern: readonly string[], topic: readonly string[]): boolean {
  // reachable[j] = the first i pattern words can match the first j topic words.
  let reachable = new Array<boolean>(topic.length + 1).fill(false);
  reachable[0] = true;
  for (const word of pattern) {
    const next = new Array<boolean>(topic.length + 1).fill(false);
    if (word === '#') {
      let any = false;
      for (let j = 0; j <= topic.length; j++) {
        any ||= reachable[j]!;
        next[j] = any;
      }
    } else {
      for (let j = 1; j <= topic.length; j++) {
        next[j] = reachable[j - 1]! && (word === '*' || word === topic[j - 1]);
      }
    }
    reachable = next;
  }
  return reachable[topic.length]!;
}
