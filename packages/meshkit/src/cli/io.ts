import { type MeshConfig, type MeshConfigOptions, type MeshEnv, meshConfig } from '../config.ts';

/** Where a command writes and what it reads: the process's streams and environment, or a test's. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: MeshEnv;
  readonly cwd: string;
  /** Resolves when the user asks a long-running command to stop (SIGINT, SIGTERM). */
  readonly interrupted: Promise<void>;
}

/** The flags every command takes, as commander hands them over. */
export interface MeshFlags {
  readonly registry?: string;
  readonly broker?: string;
  readonly routes?: string;
  readonly dataDir?: string;
}

/** A command used wrongly: printed as `meshkit: <message>`, exit code 2. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

const flagNames: Partial<Record<keyof MeshConfigOptions, string>> = {
  registry: '--registry',
  broker: '--broker',
  routes: '--routes',
  dataDir: '--data-dir',
};

/** The mesh configuration of the flags and environment; errors name the flag or the variable. */
export function cliConfig(io: CliIo, flags: MeshFlags, extra: MeshConfigOptions = {}): MeshConfig {
  return meshConfig(
    {
      env: io.env,
      cwd: io.cwd,
      ...(flags.registry === undefined ? {} : { registry: flags.registry }),
      ...(flags.broker === undefined ? {} : { broker: flags.broker }),
      ...(flags.routes === undefined ? {} : { routes: flags.routes }),
      ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }),
      ...extra,
    },
    (option) => flagNames[option] ?? option,
  );
}

/** A positive integer flag, or a usage error naming it. */
export function intFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new CliError(`${flag} must be a positive integer (received "${value}")`);
  }
  return Number(value);
}
