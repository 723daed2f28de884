import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '@meshkit/core';
import fc from 'fast-check';
import { checkGroupStart } from './broker.ts';
import { memoryBroker } from './memory-broker.ts';
import { checkPattern, checkTopic, compilePattern, compilePatterns, matchTopic } from './pattern.ts';
import { publisher } from './publisher.ts';

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

  it('topics and patterns follow one grammar: words of letters, digits, _ and -, wildcards as whole words', () => {
    for (const ok of ['user.created', 'dead-letter.billing_v2', 'a', 'A-1.b_2']) {
      assert.equal(checkTopic('topic', ok), ok);
      assert.equal(checkPattern('pattern', ok), ok);
    }
    for (const ok of ['user.*', 'user.#', '#', '*.created']) assert.equal(checkPattern('pattern', ok), ok);
    for (const bad of [
      'bad topic!',
      'user..created',
      '',
      '.user',
      'user.',
      'ü.x',
      'x'.repeat(250),
      'user.*',
    ]) {
      assert.throws(() => checkTopic('topic', bad), InvalidArgumentError, JSON.stringify(bad));
    }
    // A topic found valid is remembered: the next, different one is checked all the same.
    assert.equal(checkTopic('topic', 'user.created'), 'user.created');
    assert.throws(() => checkTopic('topic', 'user.*'), InvalidArgumentError);
    assert.throws(() => checkTopic('topic', ''), InvalidArgumentError);
    assert.throws(() => checkTopic('topic', 42), InvalidArgumentError);
    for (const bad of ['user.**', 'user*', 'us#r.x', 'user.*#', 'a b.*']) {
      assert.throws(
        () => checkPattern('consume.patterns[0]', bad),
        (error: unknown) => error instanceof InvalidArgumentError && error.field === 'consume.patterns[0]',
        bad,
      );
    }
  });

  it('the publisher and a broker refuse a topic outside the grammar, and a broker a bad pattern', async () => {
    const broker = memoryBroker();
    await assert.rejects(
      publisher(broker, { source: '/t' }).publish('bad topic!', {}),
      /"bad topic!" is not/,
    );
    const [result] = await broker.publish([{ topic: 'bad topic!', headers: {}, body: new Uint8Array() }]);
    assert.equal(result!.ok, false);
    await assert.rejects(
      broker.subscribe({ group: 'g', patterns: ['user.**'], prefetch: 1, onDelivery: () => {} }),
      InvalidArgumentError,
    );
    await broker.close();
  });

  it("the memory broker and RabbitMQ cannot start a group at 'earliest' and say why", async () => {
    const broker = memoryBroker();
    await assert.rejects(
      broker.subscribe({ group: 'g', patterns: ['a'], prefetch: 1, from: 'earliest', onDelivery: () => {} }),
      /subscribe\.from 'earliest' is not supported by the memory broker: it keeps no log/,
    );
    await broker.close();
    assert.throws(
      () => checkGroupStart('earliest', 'amqp', ['now']),
      /'earliest' is not supported by the amqp broker: a RabbitMQ queue only receives what is published after it is bound/,
    );
  });
});
