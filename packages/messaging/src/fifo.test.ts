import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Fifo } from './fifo.ts';

describe('Fifo', () => {
  it('behaves like an array queue under any mix of pushes and shifts', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat(), fc.constant(-1)), { maxLength: 5_000 }), (ops) => {
        const fifo = new Fifo<number>();
        const model: number[] = [];
        for (const op of ops) {
          if (op === -1) assert.equal(fifo.shift(), model.shift());
          else {
            fifo.push(op);
            model.push(op);
          }
          assert.equal(fifo.length, model.length);
        }
        assert.deepEqual(fifo.drain(), model);
        assert.equal(fifo.length, 0);
      }),
      { numRuns: 30 },
    );
  });
});
