/**
 * Runs the gateway:
 *
 *   node --conditions=@meshkit/source apps/gateway/src/main.ts
 *
 * Environment: `PORT` (default 8080), `HOST` (default 0.0.0.0), `MESH_ROUTES` (routing file or
 * directory, default `deploy/istio`), `MESH_DATA_DIR` (the embedded registry's folder, default
 * `.meshkit`), `ETCD_URL` (use etcd for discovery instead), `GATEWAY_DEADLINE_MS` (default 15000),
 * `GATEWAY_EXPOSE_ROUTING` (`false` hides `x-meshkit-subset` / `x-meshkit-endpoint`),
 * `SHUTDOWN_GRACE_MS` (default 0) and `SHUTDOWN_DRAIN_TIMEOUT_MS` (default 10000). SIGTERM and SIGINT
 * drain in-flight requests and exit 0.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { embeddedRegistry, etcdRegistry, type Registry } from '@meshkit/discovery';
import { formatIssue } from '@meshkit/routing';
import { startGateway } from './gateway.ts';

const env = process.env;
const dataDir = env.MESH_DATA_DIR ?? '.meshkit';
let registry: Registry;
if (env.ETCD_URL !== undefined && env.ETCD_URL !== '') registry = etcdRegistry({ url: env.ETCD_URL });
else {
  mkdirSync(dataDir, { recursive: true });
  registry = embeddedRegistry({ path: join(dataDir, 'registry.db') });
}

const gateway = await startGateway({
  registry,
  ...(env.MESH_ROUTES === undefined || env.MESH_ROUTES === '' ? {} : { routes: env.MESH_ROUTES }),
  port: Number(env.PORT ?? 8080),
  host: env.HOST ?? '0.0.0.0',
  ...(env.GATEWAY_DEADLINE_MS === undefined ? {} : { deadlineMs: Number(env.GATEWAY_DEADLINE_MS) }),
  exposeRouting: env.GATEWAY_EXPOSE_ROUTING !== 'false',
  onRoutesReload: (event) => {
    for (const issue of event.issues) console.error(formatIssue(issue));
    console.log(event.applied ? 'routes reloaded' : 'routes edit rejected; the previous routes keep serving');
  },
  shutdown: {
    ...(env.SHUTDOWN_GRACE_MS === undefined ? {} : { graceMs: Number(env.SHUTDOWN_GRACE_MS) }),
    ...(env.SHUTDOWN_DRAIN_TIMEOUT_MS === undefined
      ? {}
      : { drainTimeoutMs: Number(env.SHUTDOWN_DRAIN_TIMEOUT_MS) }),
    exit: (code) => process.exit(code),
    onClose: () => registry.close(),
  },
});
console.log(`gateway listening on ${gateway.url}`);
