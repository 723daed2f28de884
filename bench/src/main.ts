/**
 * Benchmark runner: `npm run bench -- <scenario> [--json]`. Each scenario is one file in this folder
 * exporting `run(options)`; peers are measured side by side in the same process and run.
 */
import { argv } from 'node:process';

const scenarios: Record<string, () => Promise<{ run(opts: { json: boolean }): Promise<void> }>> = {
  policies: () => import('./policies.ts'),
  balance: () => import('./balance.ts'),
  messaging: () => import('./messaging.ts'),
  amqp: () => import('./amqp.ts'),
  http: () => import('./http.ts'),
  observability: () => import('./observability.ts'),
  grpc: () => import('./grpc.ts'),
  kafka: () => import('./kafka.ts'),

  routing: () => import('./routing.ts'),
};

const args = argv.slice(2);
const json = args.includes('--json');
const names = args.filter((a) => !a.startsWith('--'));
const selected = names.length > 0 ? names : Object.keys(scenarios);
for (const name of selected) {
  const load = scenarios[name];
  if (load === undefined) {
    console.error(`unknown scenario "${name}"; known: ${Object.keys(scenarios).join(', ')}`);
    process.exitCode = 2;
    break;
  }
  const scenario = await load();
  await scenario.run({ json });
}
