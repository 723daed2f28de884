/**
 * The faults the scenario injects, each a real one: a process killed with SIGKILL, a process frozen and
 * thawed by SIGSTOP / SIGCONT (latency no code inside the app knows about), and the broker unreachable
 * for a few seconds (the embedded broker's file held under a write lock; every RabbitMQ connection closed
 * by the server).
 */
import { execFile } from 'node:child_process';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { MeshConfig } from 'meshkit';
import type { Supervisor } from './supervisor.ts';

const run = promisify(execFile);

/** Freezes an app for `frozenMs` out of every `periodMs` until stopped. */
export function injectLatency(
  supervisor: Supervisor,
  app: string,
  frozenMs: number,
  periodMs: number,
): () => void {
  let stopped = false;
  const cycle = async () => {
    while (!stopped) {
      supervisor.signal(app, 'SIGSTOP');
      await sleep(frozenMs);
      supervisor.signal(app, 'SIGCONT');
      await sleep(periodMs - frozenMs);
    }
  };
  const done = cycle();
  return () => {
    stopped = true;
    void done.then(() => supervisor.signal(app, 'SIGCONT'));
  };
}

/** Makes the broker unavailable for `ms`. Returns what was done, for the display, or why it could not be. */
export async function brokerOutage(broker: MeshConfig['broker'], ms: number): Promise<string> {
  switch (broker.kind) {
    case 'sqlite': {
      const db = new DatabaseSync(broker.path);
      try {
        db.exec('PRAGMA busy_timeout = 10000');
        db.exec('BEGIN EXCLUSIVE');
        await sleep(ms);
        db.exec('ROLLBACK');
      } finally {
        db.close();
      }
      return `broker file write-locked for ${ms} ms`;
    }
    case 'amqp':
      await run('rabbitmqctl', ['close_all_connections', 'meshkit demo: broker outage']);
      return 'every RabbitMQ connection closed by the server';
    default:
      return `no outage injected for ${broker.kind} (not supported by the demo)`;
  }
}
