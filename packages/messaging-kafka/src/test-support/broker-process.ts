/**
 * The Kafka broker process started by scripts/services/up-kafka.sh in this checkout, for tests that kill
 * and restart it. The broker under test is `MESHKIT_KAFKA_BROKER` (default 127.0.0.1:9092); a restart
 * runs the script again on that port (MESHKIT_KAFKA_PORT), with the same log dir, so nothing is lost.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { bootstrap } from './stock-client.ts';

const root = join(import.meta.dirname, '..', '..', '..', '..');

/** The broker's PID from `.cache/services/kafka.pid`; fails when this checkout did not start it. */
export function brokerPid(): number {
  const pidFile = join(root, '.cache', 'services', 'kafka.pid');
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  assert.ok(pid > 0 && alive(pid), `a running broker started by scripts/services/up-kafka.sh (${pidFile})`);
  const listener = advertisedListener(pid);
  assert.ok(
    listener === undefined || listener.endsWith(`//${bootstrap}`),
    `the broker of ${pidFile} listens on ${listener}, the tests use ${bootstrap} (MESHKIT_KAFKA_BROKER)`,
  );
  return pid;
}

/** The `advertised.listeners` of the broker process's config file (Linux `/proc`), if it can be read. */
function advertisedListener(pid: number): string | undefined {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const config = args.find((a) => a.endsWith('.properties'));
    if (config === undefined) return undefined;
    const line = readFileSync(config, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('advertised.listeners='));
    return line?.slice('advertised.listeners='.length).trim();
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts the broker again with the repository's script (same port and data dir, no format). */
export function restartBroker(): Promise<void> {
  const port = bootstrap.slice(bootstrap.lastIndexOf(':') + 1);
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(root, 'scripts', 'services', 'up-kafka.sh')], {
      stdio: 'inherit',
      env: { ...process.env, MESHKIT_KAFKA_PORT: port },
    });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`up-kafka.sh exited ${code}`))));
  });
}

/**
 * The sockets of this process still connected (or connecting) to the broker under test: none may be
 * left once every client was closed, or the process outlives its tests.
 */
export function socketsToBroker(): string[] {
  const port = Number(bootstrap.slice(bootstrap.lastIndexOf(':') + 1));
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  const open: string[] = [];
  for (const handle of handles) {
    if (!(handle instanceof Socket) || handle.destroyed) continue;
    if (handle.remotePort === port || (handle.connecting && handle.remotePort === undefined)) {
      open.push(`${handle.localPort ?? '?'} -> ${handle.remotePort ?? 'connecting'}`);
    }
  }
  return open;
}
