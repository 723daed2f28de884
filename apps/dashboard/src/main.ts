/**
 * Runs the dashboard:
 *
 *   node --conditions=@meshkit/source apps/dashboard/src/main.ts
 *
 * Environment: `PORT` (default 8090), `HOST` (default 127.0.0.1), `MESH_DATA_DIR` (the embedded
 * registry's folder, default `.meshkit`), `MESH_REGISTRY` (the registry file itself, instead),
 * `ETCD_URL` (use etcd for discovery instead), `MESH_ROUTES` (routing file or directory, for the
 * configured splits), `MESH_SERVICES` (comma-separated services to look up, default
 * `gateway,user-service,notifier`; services they call are found from their metrics),
 * `SCRAPE_INTERVAL_MS` (default 2000). SIGTERM and SIGINT close it.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { embeddedRegistry, etcdRegistry, type Registry } from '@meshkit/discovery';
import { startDashboard } from './serve/dashboard.ts';

const env = process.env;
let registry: Registry;
if (env.ETCD_URL !== undefined && env.ETCD_URL !== '') registry = etcdRegistry({ url: env.ETCD_URL });
else {
  const path = env.MESH_REGISTRY || join(env.MESH_DATA_DIR ?? '.meshkit', 'registry.db');
  mkdirSync(dirname(path), { recursive: true });
  registry = embeddedRegistry({ path });
}

const dashboard = await startDashboard({
  registry,
  services: (env.MESH_SERVICES ?? 'gateway,user-service,notifier')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
  ...(env.MESH_ROUTES ? { routesPath: env.MESH_ROUTES } : {}),
  ...(env.SCRAPE_INTERVAL_MS ? { intervalMs: Number(env.SCRAPE_INTERVAL_MS) } : {}),
  host: env.HOST ?? '127.0.0.1',
  port: Number(env.PORT ?? 8090),
});
console.log(`dashboard on ${dashboard.url}`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void dashboard
    .close()
    .then(() => registry.close())
    .then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
