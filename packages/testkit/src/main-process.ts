import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/** What a service's main says once it serves and is registered (`announceReady()` in `meshkit`). */
export interface MainReady {
  readonly type: 'ready';
  readonly urls: { readonly http: string; readonly grpc?: string };
}

/** A service's main running as a child process. */
export interface MainProcess {
  readonly child: ChildProcess;
  /** Its ready message. */
  readonly ready: MainReady;
  /** Sends SIGTERM and resolves with the exit code once it exited. */
  stop(): Promise<number | null>;
  /** Kills it (SIGKILL) if it is still running; for `finally` blocks. */
  kill(): void;
}

/**
 * Runs a service's `main.ts` (from TypeScript sources) as a child process with an IPC channel, with `env`
 * over this process's environment, and resolves once it says it is ready; rejects if it exits first.
 */
export async function startMainProcess(
  entry: string,
  env: Readonly<Record<string, string>>,
): Promise<MainProcess> {
  const child = spawn(process.execPath, ['--conditions=@meshkit/source', entry], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const exited = once(child, 'exit');
  const ready = await Promise.race([
    once(child, 'message').then(([message]) => message as MainReady),
    exited.then(([code, signal]) => {
      throw new Error(`${entry} exited (${String(code ?? signal)}) before it was ready`);
    }),
  ]);
  return {
    child,
    ready,
    kill,
    async stop() {
      child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
  };
}
