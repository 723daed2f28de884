import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, type CliIo, type MeshFlags } from './io.ts';

/**
 * The demo is the reference system (`apps/*` of the meshkit repository), so it runs from a clone: this
 * finds `apps/demo` next to the package (a clone, or a workspace install of one) and runs it as `npm start`
 * does, passing the flags on. Its output goes straight to the terminal; the exit code is the demo's.
 */
export async function demo(io: CliIo, flags: MeshFlags, args: readonly string[]): Promise<number> {
  const root = join(import.meta.dirname, '..', '..', '..', '..');
  const entry = join(root, 'apps', 'demo', 'src', 'main.ts');
  if (!existsSync(entry)) {
    throw new CliError(
      'the demo runs from a clone of the meshkit repository: git clone it, then `npm ci && npm start` there',
    );
  }
  const passed = [
    ...args,
    ...(flags.broker === undefined ? [] : ['--broker', flags.broker]),
    ...(flags.registry === undefined ? [] : ['--registry', flags.registry]),
  ];
  const child = spawn(process.execPath, ['--conditions=@meshkit/source', entry, ...passed], {
    cwd: root,
    env: { ...io.env } as NodeJS.ProcessEnv,
    stdio: 'inherit',
  });
  const code = await new Promise<number>((resolve) => {
    child.on('exit', (status, signal) => resolve(status ?? (signal === null ? 1 : 130)));
  });
  return code;
}
