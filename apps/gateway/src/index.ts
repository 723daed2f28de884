/**
 * `@meshkit/gateway`: the reference system's public edge, an HTTP reverse proxy on meshkit's client
 * pipeline routed by the Istio files in `deploy/istio`.
 */
export { type Gateway, startGateway } from './gateway.ts';
export {
  defaultMounts,
  defaultRoutesPath,
  type GatewayLimits,
  type GatewayMount,
  type GatewayOptions,
} from './options.ts';
export { routingHeaders } from './relay.ts';
