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

/**
 * Makes the broker unavailable for `ms`. Returns what was done, for the display, or why it could not be.
 * `broker` is the mesh's broker URL (`sqlite:<path>`, `amqp://…`, `kafka://…`).
 */
export async function brokerOutage(broker: string, ms: number): Promise<string> {
  if (broker.startsWith('sqlite:')) {
    const db = new DatabaseSync(broker.slice('sqlite:'.length));
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
  if (broker.startsWith('amqp:') || broker.startsWith('amqps:')) {
    await run('rabbitmqctl', ['close_all_connections', 'meshkit demo: broker outage']);
    return 'every RabbitMQ connection closed by the server';
  }
  return `no outage injected for ${broker.split(':')[0]} (not supported by the demo)`;
}
