/**
 * Runs the gateway on the mesh its variables describe (`MESH_*`: see the README): the services behind
 * it found in `MESH_REGISTRY`, routed by `MESH_ROUTES` (default the repository's `deploy/istio`),
 * registered there as `gateway`, `GET /metrics` on its port. Its own variables: `GATEWAY_DEADLINE_MS`
 * (default 15000), `GATEWAY_EXPOSE_ROUTING` (`false` hides `x-meshkit-subset`, `x-meshkit-endpoint`
 * and `x-meshkit-attempts`), `SHUTDOWN_GRACE_MS` (default 0) and `SHUTDOWN_DRAIN_TIMEOUT_MS` (default
 * 10000). SIGTERM and SIGINT drain in-flight requests and exit 0.
 *
 *   node --conditions=@meshkit/source apps/gateway/src/main.ts
 */
import { formatIssue, type RouteReloadEvent, routeReloadChannel } from '@meshkit/routing';
import { announceReady, createMesh } from 'meshkit';
import { startGateway } from './gateway.ts';
import { defaultRoutesPath } from './options.ts';

const env = process.env;
const number = (name: string): number | undefined => (env[name] ? Number(env[name]) : undefined);
const mesh = await createMesh({
  env: { MESH_SERVICE: 'gateway', MESH_ROUTES: defaultRoutesPath, ...env },
  broker: false,
});
const { config } = mesh;
const metrics = mesh.telemetry.metrics?.registry;
const deadlineMs = number('GATEWAY_DEADLINE_MS');
const graceMs = number('SHUTDOWN_GRACE_MS');
const drainTimeoutMs = number('SHUTDOWN_DRAIN_TIMEOUT_MS');

routeReloadChannel.subscribe((message) => {
  const event = message as RouteReloadEvent;
  for (const issue of event.issues) console.error(formatIssue(issue));
  console.log(event.applied ? 'routes reloaded' : 'routes edit rejected; the previous routes keep serving');
});

const gateway = await startGateway({
  registry: mesh.registry,
  ...(mesh.routes === undefined ? {} : { routes: mesh.routes }),
  port: config.httpPort,
  host: config.host,
  registerAs: 'gateway',
  ...(config.address === undefined ? {} : { advertisedAddress: config.address }),
  ...(metrics === undefined ? {} : { metrics }),
  ...(deadlineMs === undefined ? {} : { deadlineMs }),
  exposeRouting: env.GATEWAY_EXPOSE_ROUTING !== 'false',
  shutdown: {
    ...(graceMs === undefined ? {} : { graceMs }),
    ...(drainTimeoutMs === undefined ? {} : { drainTimeoutMs }),
    exit: (code) => process.exit(code),
    onClose: () => mesh.close(),
  },
});
console.log(`gateway listening on ${gateway.url}`);
announceReady({ http: gateway.url });
