/**
 * `npm start`: runs the reference system and its scenario, prints the report, and exits 0 only when every
 * invariant held. `--keep` leaves the system running until Ctrl-C; Ctrl-C at any time stops every process.
 *
 *   node --conditions=@meshkit/source apps/demo/src/main.ts [--duration 60] [--workers 8] [--keep]
 *     [--no-dashboard] [--broker amqp://…|kafka://…] [--registry etcd://…] [--database-url postgres://…]
 */
import { parseArgs } from 'node:util';
import { runDemo } from './demo.ts';

const usage = `usage: npm start -- [--duration <seconds>] [--workers <n>] [--keep] [--no-dashboard]
                 [--broker sqlite:|amqp://…|kafka://host:port] [--registry <file>|etcd://host:port]
                 [--database-url postgres://…]
Each flag may also come from its variable: MESH_BROKER, MESH_REGISTRY, DATABASE_URL.`;

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      duration: { type: 'string' },
      workers: { type: 'string' },
      keep: { type: 'boolean' },
      'no-dashboard': { type: 'boolean' },
      broker: { type: 'string' },
      registry: { type: 'string' },
      'database-url': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
}
try {
  args = parse();
} catch (error) {
  console.error(`${(error as Error).message}\n${usage}`);
  process.exit(2);
}
if (args.values.help === true) {
  console.log(usage);
  process.exit(0);
}

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--${name} must be a positive number, got "${text}"\n${usage}`);
    process.exit(2);
  }
  return value;
}

const env: Record<string, string | undefined> = { ...process.env };
if (args.values.broker !== undefined) env.MESH_BROKER = args.values.broker;
if (args.values.registry !== undefined) env.MESH_REGISTRY = args.values.registry;
if (args.values['database-url'] !== undefined) env.DATABASE_URL = args.values['database-url'];

const stop = new AbortController();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130); // a second Ctrl-C: stop waiting
    interrupted = true;
    console.log(`\n${signal}: stopping every process…`);
    stop.abort();
  });
}

try {
  const summary = await runDemo({
    durationMs: positive('duration', args.values.duration, 60) * 1000,
    workers: Math.round(positive('workers', args.values.workers, 8)),
    keep: args.values.keep === true,
    dashboard: args.values['no-dashboard'] !== true,
    env,
    signal: stop.signal,
  });
  process.exitCode = interrupted ? 130 : summary.failures.length === 0 ? 0 : 1;
} catch (error) {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = interrupted ? 130 : 1;
}
