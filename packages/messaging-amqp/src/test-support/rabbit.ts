import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * The tests' RabbitMQ: the one on this machine (127.0.0.1:5672, guest/guest), or `MESHKIT_AMQP_URL`.
 * Each test file works in a vhost of its own, made with `rabbitmqctl` and deleted afterwards with
 * everything in it. A missing broker makes the tests fail, never skip.
 */

const run = promisify(execFile);
const base = new URL(process.env.MESHKIT_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');

/** Runs `rabbitmqctl` with `args`; rejects with its output when it fails. */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 120_000 });
  return stdout;
}

/** A vhost of one test file. */
export interface TestVhost {
  readonly name: string;
  /** The AMQP URL of the vhost. */
  readonly url: string;
  /** Deletes the vhost and everything in it. */
  remove(): Promise<void>;
}

/** Creates a fresh vhost and grants the test user everything in it. */
export async function testVhost(label: string): Promise<TestVhost> {
  const name = `meshkit-${label}-${randomUUID().slice(0, 8)}`;
  await rabbitmqctl('add_vhost', name);
  await rabbitmqctl('set_permissions', '-p', name, decodeURIComponent(base.username), '.*', '.*', '.*');
  const url = new URL(base);
  url.pathname = `/${encodeURIComponent(name)}`;
  return {
    name,
    url: url.toString(),
    remove: async () => {
      await rabbitmqctl('delete_vhost', name);
    },
  };
}
