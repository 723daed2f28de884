import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Registry, RegistryChange } from '@meshkit/discovery';
import type { RegistryChildConfig, RegistryStore } from './registry-child.ts';

/**
 * The multi-process half of the registry contract, with real child processes: concurrent writers from
 * several processes, graceful shutdown deregisters, and a process killed with SIGKILL vanishes once its
 * TTL passes.
 */

/** What a source's test provides to {@link registryProcessConformance}. */
export interface RegistryProcessHarness {
  /** The parent's registry on the shared store. */
  readonly registry: Registry;
  /** How each child opens the same store. */
  readonly store: RegistryStore;
  /** Lets `ms` of registry time pass after the present moment (a fake clock catches up with real time first). */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** Options for {@link registryProcessConformance}. */
export interface RegistryProcessOptions {
  /** The TTL of the children's registrations, in ms. */
  readonly ttlMs: number;
  /** How many writer processes run at once. Defaults to 4. */
  readonly processes?: number;
  /** Instances each writer registers. Defaults to 10. */
  readonly perProcess?: number;
  /** Time for a watch to notice a change, in ms. Defaults to 100. */
  readonly watchLatencyMs?: number;
}

// From the sources (tests in this repository) the child is a .ts file run with the source condition;
// from the published package it is the compiled .js beside this module.
const fromSource = import.meta.url.endsWith('.ts');
const childPath = fileURLToPath(
  new URL(fromSource ? './registry-child.ts' : './registry-child.js', import.meta.url),
);
const childFlags = fromSource ? ['--conditions=@meshkit/source'] : [];

interface Child {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
}

/** Starts a child that registers `config.instances` and resolves once it printed `ready`. */
async function startChild(config: RegistryChildConfig): Promise<Child> {
  const child = spawn(process.execPath, [...childFlags, childPath, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes('ready\n')) resolve();
    });
    exited.then((code) => reject(new Error(`registry child exited with ${code} before it was ready`)));
  });
  return { process: child, exited };
}

/** Declares the multi-process suite under `describe(name)`. */
export function registryProcessConformance(
  name: string,
  makeHarness: () => Promise<RegistryProcessHarness>,
  options: RegistryProcessOptions,
): void {
  const processes = options.processes ?? 4;
  const perProcess = options.perProcess ?? 10;
  const latency = options.watchLatencyMs ?? 100;
  describe(`registry processes: ${name}`, () => {
    let h: RegistryProcessHarness;
    const children: Child[] = [];
    before(async () => {
      h = await makeHarness();
    });
    after(async () => {
      for (const c of children) if (c.process.exitCode === null) c.process.kill('SIGKILL');
      await Promise.all(children.map((c) => c.exited));
      await h.close();
    });

    it(`${processes} processes register concurrently; all entries land; SIGTERM deregisters them`, async () => {
      const service = `writers-${process.pid}-${Date.now().toString(36)}`;
      const started = await Promise.all(
        Array.from({ length: processes }, (_, p) =>
          startChild({
            store: h.store,
            instances: Array.from({ length: perProcess }, (_, i) => ({
              id: `${service}-${p}-${i}`,
              service,
              address: '127.0.0.1',
              port: 10_000 + p * 100 + i,
              labels: { writer: String(p) },
            })),
          }),
        ),
      );
      children.push(...started);
      const found = await h.registry.lookup(service);
      assert.equal(found.length, processes * perProcess);
      for (let p = 0; p < processes; p++) {
        assert.equal(found.filter((i) => i.labels.writer === String(p)).length, perProcess);
      }
      for (const c of started) c.process.kill('SIGTERM');
      assert.deepEqual(
        await Promise.all(started.map((c) => c.exited)),
        started.map(() => 0),
      );
      assert.deepEqual(await h.registry.lookup(service), [], 'graceful shutdown deregistered at once');
    });

    it('a process killed with SIGKILL vanishes from lookups and watches once its TTL passes', async () => {
      const service = `crash-${process.pid}-${Date.now().toString(36)}`;
      const child = await startChild({
        store: h.store,
        instances: [0, 1].map((i) => ({
          id: `${service}-${i}`,
          service,
          address: '127.0.0.1',
          port: 11_000 + i,
        })),
      });
      children.push(child);
      const watch = h.registry.watch(service);
      const it = watch[Symbol.asyncIterator]();
      assert.equal(((await it.next()).value as RegistryChange).instances.length, 2);
      child.process.kill('SIGKILL');
      assert.equal(await child.exited, null);
      const next = it.next();
      await h.advance(options.ttlMs / 2);
      assert.equal((await h.registry.lookup(service)).length, 2, 'still listed before the TTL passes');
      await h.advance(options.ttlMs + latency);
      // The two instances' last heartbeats were not at the same instant: on a busy machine they may expire
      // in two changes rather than one.
      let change = (await next).value as RegistryChange;
      let removed = change.removed.length;
      while (change.instances.length > 0) {
        const following = it.next();
        await h.advance(latency);
        change = (await following).value as RegistryChange;
        removed += change.removed.length;
      }
      assert.deepEqual(change.instances, []);
      assert.equal(removed, 2);
      assert.deepEqual(await h.registry.lookup(service), []);
      watch.close();
    });
  });
}
