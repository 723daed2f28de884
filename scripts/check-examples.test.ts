import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const script = join(import.meta.dirname, 'check-examples.ts');
const fixtures = join(import.meta.dirname, 'check-examples.fixtures');

/** Runs the checker over the fixtures (only the files matching `filter`): its exit code and output lines. */
function check(filter: string): { status: number | null; lines: string[] } {
  const run = spawnSync(process.execPath, [script, `--root=${fixtures}`, filter], { encoding: 'utf8' });
  return { status: run.status, lines: run.stdout.trim().split('\n') };
}

test('blocks that compile pass, with their hidden context; blocks in other languages are not checked', () => {
  const { status, lines } = check('docs/good.md');
  assert.deepEqual(lines, ['check-examples: 2 examples from 1 files, 0 errors']);
  assert.equal(status, 0);
});

test('each error is reported at its line in the Markdown source, in a block or in its hidden context', () => {
  const { status, lines } = check('docs/bad.md');
  assert.deepEqual(lines, [
    "docs/bad.md:7:7: error TS2322: Type 'number | undefined' is not assignable to type 'string'.",
    "    Type 'undefined' is not assignable to type 'string'.",
    "docs/bad.md:12:7: error TS2322: Type 'string' is not assignable to type 'number'.",
    'check-examples: 2 examples from 1 files, 2 errors',
  ]);
  assert.equal(status, 1);
});

test("a TSDoc example uses its file's exports unimported; its errors point at the comment's line", () => {
  const { status, lines } = check('packages/demo');
  assert.deepEqual(lines, [
    "packages/demo/src/thing.ts:12:7: error TS2322: Type 'number' is not assignable to type 'string'.",
    'packages/demo/src/thing.ts:22: @example without a ```ts fence: it cannot be checked',
    'check-examples: 2 examples from 1 files, 2 errors',
  ]);
  assert.equal(status, 1);
});
