import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const cli = join(import.meta.dirname, 'cli.ts');
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--conditions=@meshkit/source', cli, ...args], { encoding: 'utf8' });

describe('meshkit-routes validate', () => {
  it('prints the warnings and the table of a valid configuration, and exits 0', () => {
    const r = run('validate', join(import.meta.dirname, 'fixtures', 'seed-retries.yaml'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /warning: .*seed-retries.yaml #1 spec.http\[0\].retries.retryOn: "retriable-status-500"/,
    );
    assert.match(r.stdout, /valid with 1 warning\(s\)/);
    assert.equal(
      JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).virtualServices[0].rules[0].timeoutMs,
      10_000,
    );
  });

  it('prints the errors and exits 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshkit-cli-'));
    try {
      const file = join(dir, 'bad.yaml');
      await writeFile(
        file,
        'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: x }\nspec:\n  hosts: [a]\n  http:\n  - route:\n    - { destination: { host: a }, weight: 60 }\n    - { destination: { host: a }, weight: 30 }\n',
      );
      const r = run('validate', file);
      assert.equal(r.status, 1);
      assert.equal(
        r.stderr,
        `${file} #1 spec.http[0].route: weights sum to 90, expected 100\ninvalid: 1 error(s)\n`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 on bad usage', () => {
    assert.equal(run('check').status, 2);
  });
});
