import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrpcStatusError, type ServiceImpl, Status, type UserService, UserStatus } from '@meshkit/grpc';
import type { KitHandler } from '@meshkit/http';

/** A temporary data directory, removed by the returned function. */
export function tempDir(prefix = 'meshkit-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An HTTP handler that answers who it is: `{ version, path }` for any path. */
export function whoAmI(version: string): KitHandler {
  return (req) => ({ body: { version, method: req.method, path: req.path } });
}

/** Minimal handlers for the seed's UserService: users `42` (its name says which instance answered). */
export function userService(instance: string): ServiceImpl<typeof UserService> {
  return {
    async getUser({ id }) {
      if (id !== '42') throw new GrpcStatusError(Status.NOT_FOUND, `no user ${id}`);
      return { id, email: 'ada@example.com', name: `Ada from ${instance}`, status: UserStatus.ACTIVE };
    },
    async createUser({ email, name }) {
      return { id: '43', email, name, status: UserStatus.ACTIVE };
    },
    async listUsers() {
      return { users: [], nextPageToken: '' };
    },
    async *streamUserEvents() {},
  };
}

/** A promise and the function that resolves it. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** An HTTP handler that echoes the call: `{ version, method, path, body }`; `/missing` answers 404. */
export function echo(version: string): KitHandler {
  return (req) =>
    req.path === '/missing'
      ? { status: 404, body: { error: `nothing at ${req.path}` } }
      : { body: { version, method: req.method, path: req.path, body: req.body.toString('utf8') } };
}

/** The outcome of one run of the `meshkit` command. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const cliPath = new URL('../cli.ts', import.meta.url).pathname;

/**
 * Starts `meshkit <args>` as a child process in `cwd` with `env` over this process's environment.
 * `ready` resolves when stderr first contains `waitFor`.
 */
export function startCli(
  args: readonly string[],
  options: { readonly cwd: string; readonly env?: Record<string, string>; readonly waitFor?: string },
): { done: Promise<CliRun>; ready: Promise<void>; child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, ['--conditions=@meshkit/source', cliPath, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const ready = deferred<void>();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (options.waitFor !== undefined && stderr.includes(options.waitFor)) ready.resolve();
  });
  // A guard against a command that never ends, not a measurement.
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<CliRun>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(guard);
      ready.resolve();
      resolve({ code, stdout, stderr });
    });
  });
  return { done, ready: ready.promise, child, stderr: () => stderr };
}

/** Runs `meshkit <args>` to its end. */
export function runCli(
  args: readonly string[],
  options: { readonly cwd: string; readonly env?: Record<string, string> },
): Promise<CliRun> {
  return startCli(args, options).done;
}
