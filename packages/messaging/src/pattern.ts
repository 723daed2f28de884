import { InvalidArgumentError } from '@meshkit/core';

/**
 * AMQP topic-exchange matching: topics and patterns are dot-separated words; in a pattern `*` matches
 * exactly one word and `#` matches zero or more words. A pattern without wildcards matches only itself.
 *
 * The grammar, checked here and only here (docs/messaging.md, "Topic names"):
 *
 *   topic   = word *( "." word )            at most 249 characters (Kafka's limit)
 *   word    = 1*( ALPHA / DIGIT / "_" / "-" )
 *   pattern = pword *( "." pword )          at most 249 characters
 *   pword   = word / "*" / "#"
 *
 * so every topic is a legal Kafka topic name and AMQP routing key, and a wildcard is a whole word
 * (`user.**`, `user*` and `bad topic!` are refused).
 */

/** The longest topic or pattern: Kafka's topic-name limit. */
export const MAX_TOPIC_LENGTH = 249;

const WORD = /^[A-Za-z0-9_-]+$/;

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

/**
 * Throws {@link InvalidArgumentError} unless `value` is a valid pattern: dot-separated words of letters,
 * digits, `_` and `-`, or a whole-word wildcard `*` / `#`, at most 249 characters.
 */
export function checkPattern(field: string, value: unknown): string {
  return checkName(field, value, true);
}

/** The last topic found valid: a publisher checks the same few topics again and again. */
let lastTopic = '';

/** Throws unless `value` is a concrete topic: the pattern grammar without wildcards. */
export function checkTopic(field: string, value: unknown): string {
  if (value === lastTopic && value !== '') return value;
  checkName(field, value, false);
  lastTopic = value as string;
  return lastTopic;
}

function checkName(field: string, value: unknown, wildcards: boolean): string {
  const what = wildcards
    ? 'must be dot-separated non-empty words of letters, digits, _ and -, or the whole-word wildcards * and #'
    : 'must be dot-separated non-empty words of letters, digits, _ and - (no wildcards)';
  if (typeof value !== 'string' || value.length === 0) throw new InvalidArgumentError(field, what, value);
  if (value.length > MAX_TOPIC_LENGTH) {
    throw new InvalidArgumentError(field, `must be at most ${MAX_TOPIC_LENGTH} characters`, value);
  }
  for (const word of value.split('.')) {
    if (WORD.test(word)) continue;
    if (word === '*' || word === '#') {
      if (wildcards) continue;
      throw new InvalidArgumentError(field, 'must not contain the wildcards * or #', value);
    }
    throw new InvalidArgumentError(field, `${what}; "${word}" is not`, value);
  }
  return value;
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
