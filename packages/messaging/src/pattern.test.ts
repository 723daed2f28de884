import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compilePattern, compilePatterns, matchTopic } from './pattern.ts';

describe('topic patterns', () => {
  it('follows the AMQP examples', () => {
    assert.equal(matchTopic('user.*', 'user.created'), true);
    assert.equal(matchTopic('user.*', 'user'), false);
    assert.equal(matchTopic('user.*', 'user.created.v2'), false);
    assert.equal(matchTopic('user.#', 'user'), true);
    assert.equal(matchTopic('user.#', 'user.created.v2'), true);
    assert.equal(matchTopic('#', 'anything.at.all'), true);
    assert.equal(matchTopic('*.created', 'order.created'), true);
    assert.equal(matchTopic('*.created', 'created'), false);
    assert.equal(matchTopic('a.#.z', 'a.z'), true);
    assert.equal(matchTopic('a.#.z', 'a.b.c.z'), true);
    assert.equal(matchTopic('a.#.z', 'a.b.c'), false);
    assert.equal(matchTopic('user.created', 'user.created'), true);
    assert.equal(matchTopic('user.created', 'user.deleted'), false);
  });

  it('rejects empty words', () => {
    assert.throws(() => compilePattern('user..x'), /must be dot-separated non-empty words/);
    assert.throws(() => compilePattern(''), /pattern/);
  });

  const word = fc.constantFrom('a', 'b', 'c');
  const topic = fc.array(word, { minLength: 1, maxLength: 6 });

  it('a topic always matches itself, # and its own words with any word replaced by *', () => {
    fc.assert(
      fc.property(topic, fc.nat(), (words, i) => {
        const t = words.join('.');
        const starred = words.map((w, j) => (j === i % words.length ? '*' : w)).join('.');
        return matchTopic(t, t) && matchTopic('#', t) && matchTopic(starred, t);
      }),
    );
  });

  it('# between a prefix and a suffix matches exactly the topics with that prefix and suffix', () => {
    fc.assert(
      fc.property(
        fc.array(word, { maxLength: 2 }),
        fc.array(word, { maxLength: 2 }),
        topic,
        (prefix, suffix, words) => {
          const pattern = [...prefix, '#', ...suffix].join('.');
          const expected =
            words.length >= prefix.length + suffix.length &&
            prefix.every((w, i) => words[i] === w) &&
            suffix.every((w, i) => words[words.length - suffix.length + i] === w);
          return matchTopic(pattern, words.join('.')) === expected;
        },
      ),
    );
  });

  it('* patterns match exactly the topics of the same length agreeing on the literal words', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', '*'), { minLength: 1, maxLength: 5 }),
        topic,
        (p, words) => {
          const expected = p.length === words.length && p.every((w, i) => w === '*' || w === words[i]);
          return matchTopic(p.join('.'), words.join('.')) === expected;
        },
      ),
    );
  });

  it('compilePatterns matches when any pattern does', () => {
    const m = compilePatterns(['user.*', 'order.#']);
    assert.equal(m('user.created'), true);
    assert.equal(m('order'), true);
    assert.equal(m('billing.paid'), false);
    assert.equal(m('billing.paid'), false);
  });
});
