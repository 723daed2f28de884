/**
 * Runs the reference system's apps as child processes: starts each with its environment, waits until it
 * says it is ready (an IPC message `{ type: 'ready', urls }` sent once it serves and is registered), keeps
 * the last lines of its output for the report, and stops every process it started, by PID, with SIGTERM
 * first and SIGKILL only after a grace period.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** What an app reports when it is ready: its public URLs by name (`http`, `grpc`, …). */
export interface ReadyMessage {
  readonly type: 'ready';
  readonly urls: Readonly<Record<string, string>>;
}

/** One app to start. */
export interface AppSpec {
  /** Display name, unique within a supervisor (`user-service-v1-a`). */
  readonly name: string;
  /** Entry module, absolute path. */
  readonly entry: string;
  /** Extra environment over the supervisor's base environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A started app. */
export interface RunningApp {
  readonly name: string;
  readonly pid: number;
  readonly urls: Readonly<Record<string, string>>;
  /** Exit code or signal once it exited, else undefined. */
  readonly exit: string | undefined;
  /** Its last lines of output, oldest first. */
  readonly tail: readonly string[];
}

const tailLines = 40;

class App implements RunningApp {
  urls: Readonly<Record<string, string>> = {};
  exit: string | undefined;
  readonly tail: string[] = [];
  readonly exited: Promise<void>;

  readonly name: string;
  readonly child: ChildProcess;

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    this.exited = once(child, 'exit').then(([code, signal]) => {
      this.exit = signal === null ? `exit ${String(code)}` : String(signal);
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > tailLines) this.tail.shift();
      });
    }
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }
}

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  /** Environment every app gets over the demo's own (the mesh variables). */
  readonly env: Readonly<Record<string, string>>;
  /** Node flags for every app, e.g. `--conditions=@meshkit/source`. */
  readonly execArgv: readonly string[];
  /** How long an app may take to say it is ready. Defaults to 30 s. */
  readonly readyTimeoutMs?: number;
  /** How long an app may take to exit after SIGTERM before SIGKILL. Defaults to 10 s. */
  readonly stopTimeoutMs?: number;
}

export class Supervisor {
  readonly #apps = new Map<string, App>();
  readonly #options: SupervisorOptions;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** The apps started so far, in start order. */
  get apps(): readonly RunningApp[] {
    return [...this.#apps.values()];
  }

  app(name: string): RunningApp {
    const app = this.#apps.get(name);
    if (app === undefined) throw new Error(`no app named ${name}`);
    return app;
  }

  /** Starts an app and resolves with it once it is ready; rejects (with its output) if it exits or stalls. */
  async start(spec: AppSpec): Promise<RunningApp> {
    if (this.#apps.has(spec.name)) throw new Error(`app ${spec.name} already started`);
    const child = spawn(process.execPath, [...this.#options.execArgv, spec.entry], {
      env: { ...process.env, ...this.#options.env, ...spec.env, MESH_APP_NAME: spec.name },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const app = new App(spec.name, child);
    this.#apps.set(spec.name, app);
    const timeoutMs = this.#options.readyTimeoutMs ?? 30_000;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${spec.name} was not ready within ${timeoutMs} ms`)),
        timeoutMs,
      );
      child.on('message', (message: unknown) => {
        if (isReady(message)) {
          clearTimeout(timer);
          app.urls = message.urls;
          resolve();
        }
      });
      void app.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${spec.name} exited (${app.exit}) before it was ready`));
      });
    });
    try {
      await ready;
    } catch (error) {
      const output = app.tail.length > 0 ? `\n  ${app.tail.join('\n  ')}` : '';
      throw new Error(`${(error as Error).message}${output}`, { cause: error });
    }
    return app;
  }

  /** Starts an app again after it exited (an orchestrator restarting a crashed instance). */
  async restart(spec: AppSpec): Promise<RunningApp> {
    const previous = this.#apps.get(spec.name);
    if (previous !== undefined && previous.exit === undefined)
      throw new Error(`app ${spec.name} is still running`);
    this.#apps.delete(spec.name);
    return this.start(spec);
  }

  /** Sends a signal to one app (SIGKILL to crash it, SIGSTOP/SIGCONT to freeze and thaw it). */
  signal(name: string, signal: NodeJS.Signals): void {
    const app = this.#apps.get(name);
    if (app !== undefined && app.exit === undefined) app.child.kill(signal);
  }

  /** Stops every app still running: SIGCONT (in case one is frozen), SIGTERM, then SIGKILL after the grace period. */
  async stopAll(): Promise<void> {
    const running = [...this.#apps.values()].filter((app) => app.exit === undefined).reverse();
    const graceMs = this.#options.stopTimeoutMs ?? 10_000;
    await Promise.all(
      running.map(async (app) => {
        app.child.kill('SIGCONT');
        app.child.kill('SIGTERM');
        const timer = setTimeout(() => app.child.kill('SIGKILL'), graceMs);
        await app.exited;
        clearTimeout(timer);
      }),
    );
  }
}

function isReady(message: unknown): message is ReadyMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'ready' &&
    typeof (message as { urls?: unknown }).urls === 'object'
  );
}
