/**
 * `@meshkit/discovery`: the {@link Registry} port, its sources (embedded SQLite file, static list,
 * etcd, DNS, Consul), the bridge from a registry watch to the balancer's endpoint sets, and active
 * health probes (HTTP, TCP).
 */

export { advertisedAddress, isWildcardHost } from './advertised-address.ts';
export { type ConsulRegistryOptions, consulRegistry } from './consul.ts';
export { type DnsQuery, type DnsRegistryOptions, dnsRegistry } from './dns.ts';
export { type EmbeddedRegistryOptions, embeddedRegistry } from './embedded.ts';
export { type EndpointSets, type EndpointSetsOptions, endpointSets, toEndpoint } from './endpoints.ts';
export { type EtcdRegistryOptions, etcdRegistry } from './etcd.ts';
export { type GrpcProbeOptions, grpcProbe } from './grpc-probe.ts';
export {
  type HealthCheckSpec,
  hostPort,
  type InstanceHealth,
  type InstanceInit,
  type ServiceInstance,
  validateInstance,
} from './instance.ts';
export { type HttpProbeOptions, httpProbe, probeFor, tcpProbe } from './probes.ts';
export type { LookupOptions, Registration, Registry, RegistryChange, Watch } from './registry.ts';
export { type StaticRegistryOptions, staticRegistry } from './static.ts';
export { SnapshotWatch } from './watch.ts';
