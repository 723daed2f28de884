import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { ExpositionParseError, parseExposition } from './prom-text.ts';

describe('parseExposition', () => {
  it('reads what prom-client writes: types, labels with escapes, histogram buckets with +Inf', async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: 'calls_total',
      help: 'Calls.',
      labelNames: ['path', 'note'],
      registers: [registry],
    });
    const histogram = new Histogram({
      name: 'call_seconds',
      help: 'Call time.',
      labelNames: ['path'],
      buckets: [0.1, 1],
      registers: [registry],
    });
    counter.inc({ path: '/a', note: 'say "hi"\\ok\nnext' }, 3);
    histogram.observe({ path: '/a' }, 0.05);
    histogram.observe({ path: '/a' }, 0.5);
    histogram.observe({ path: '/a' }, 5);

    const exposition = parseExposition(await registry.metrics());

    assert.equal(exposition.types.get('calls_total'), 'counter');
    assert.equal(exposition.types.get('call_seconds'), 'histogram');
    const calls = exposition.samples.filter((s) => s.name === 'calls_total');
    assert.deepEqual(calls, [
      { name: 'calls_total', labels: { path: '/a', note: 'say "hi"\\ok\nnext' }, value: 3 },
    ]);
    const buckets = exposition.samples
      .filter((s) => s.name === 'call_seconds_bucket')
      .map((s) => [s.labels.le, s.value]);
    assert.deepEqual(buckets, [
      ['0.1', 1],
      ['1', 2],
      ['+Inf', 3],
    ]);
    assert.equal(exposition.samples.find((s) => s.name === 'call_seconds_sum')?.value, 5.55);
  });

  it('reads special values, timestamps, spaces and labels without values', () => {
    const exposition = parseExposition(
      [
        '# HELP x A metric.',
        '# TYPE x gauge',
        'x{a="1" , b=""} NaN',
        'x{a="2"} +Inf 1700000000000',
        'x -Inf',
        'x{} 1.5e-3',
        '',
      ].join('\n'),
    );
    const values = exposition.samples.map((s) => s.value);
    assert.ok(Number.isNaN(values[0]));
    assert.deepEqual(values.slice(1), [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.0015]);
    assert.deepEqual(exposition.samples[0]!.labels, { a: '1', b: '' });
  });

  it('refuses a malformed line, naming it', () => {
    for (const [text, line] of [
      ['ok 1\nbad{a="1" 2', 2],
      ['x{a="unterminated} 1', 1],
      ['x{a="1"} one', 1],
      ['x{a="\\q"} 1', 1],
      ['# TYPE x sideways', 1],
      ['{a="1"} 1', 1],
      ['x 1 2 3', 1],
    ] as const) {
      assert.throws(
        () => parseExposition(text),
        (error: unknown) => error instanceof ExpositionParseError && error.line === line,
        text,
      );
    }
  });
});
