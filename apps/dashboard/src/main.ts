/**
 * Runs the dashboard on the mesh its variables describe (`MESH_*`: see the README): instances found in
 * `MESH_REGISTRY`, the configured splits read from `MESH_ROUTES`, listening on `MESH_HOST` /
 * `MESH_HTTP_PORT` (default 8090), registered as `dashboard`, `GET /metrics` of its own. Its own
 * variables: `DASHBOARD_SERVICES` (comma-separated services to look up, default
 * `gateway,user-service,notifier`; services they call are found from their metrics) and
 * `SCRAPE_INTERVAL_MS` (default 2000). SIGTERM and SIGINT close it.
 *
 *   node --conditions=@meshkit/source apps/dashboard/src/main.ts
 */
import { announceReady, createMesh } from 'meshkit';
import { startDashboard } from './serve/dashboard.ts';

const env = process.env;
const mesh = await createMesh({
  env: { MESH_SERVICE: 'dashboard', MESH_HTTP_PORT: '8090', ...env },
  broker: false,
});
const { config } = mesh;
const metrics = mesh.telemetry.metrics?.registry;

const dashboard = await startDashboard({
  registry: mesh.registry,
  services: (env.DASHBOARD_SERVICES || 'gateway,user-service,notifier')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
  ...(typeof config.routes === 'string' ? { routesPath: config.routes } : {}),
  ...(env.SCRAPE_INTERVAL_MS ? { intervalMs: Number(env.SCRAPE_INTERVAL_MS) } : {}),
  host: config.host,
  port: config.httpPort,
  ...(config.address === undefined ? {} : { advertisedAddress: config.address }),
  ...(metrics === undefined ? {} : { metrics }),
});
console.log(`dashboard on ${dashboard.url}`);
announceReady({ http: dashboard.url.replace(/\/$/, '') });

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void dashboard
    .close()
    .then(() => mesh.close())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
