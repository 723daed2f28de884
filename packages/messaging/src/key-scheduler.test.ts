import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { KeyScheduler } from './key-scheduler.ts';

describe('KeyScheduler', () => {
  it('never overlaps a key, keeps per-key order, respects the limit and runs everything', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        async (keys, concurrency) => {
          const running = new Set<string>();
          let active = 0;
          const done: number[] = [];
          const s = new KeyScheduler<number>(
            concurrency,
            (i) => keys[i],
            async (i) => {
              const key = keys[i];
              if (key !== undefined) {
                if (running.has(key)) throw new Error('overlap');
                running.add(key);
              }
              active++;
              if (active > concurrency) throw new Error('limit');
              await new Promise((r) => setImmediate(r));
              active--;
              if (key !== undefined) running.delete(key);
              done.push(i);
            },
          );
          for (let i = 0; i < keys.length; i++) s.push(i);
          await new Promise((r) => setImmediate(r));
          await s.whenIdle();
          while (done.length < keys.length)
            await s.whenIdle().then(() => new Promise((r) => setImmediate(r)));
          assert.equal(done.length, keys.length);
          for (const k of ['a', 'b', 'c']) {
            const order = done.filter((i) => keys[i] === k);
            assert.deepEqual(
              order,
              [...order].sort((x, y) => x - y),
            );
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('takeQueued hands back what has not started and frees those keys', async () => {
    const gates: (() => void)[] = [];
    const started: string[] = [];
    const s = new KeyScheduler<string>(
      1,
      (x) => x[0],
      (x) => {
        started.push(x);
        return new Promise<void>((r) => gates.push(r));
      },
    );
    for (const x of ['a1', 'a2', 'b1', 'c1']) s.push(x);
    assert.deepEqual(started, ['a1']);
    assert.deepEqual(s.takeQueued().sort(), ['a2', 'b1', 'c1']);
    assert.equal(s.queued, 0);
    s.push('b2');
    gates[0]!();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, ['a1', 'b2']);
  });
});
