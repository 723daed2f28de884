/**
 * `@meshkit/balance`: client-side load balancing. `balance()` turns a stream of endpoint sets and a
 * per-endpoint `connect()` into one `Service`; `Picker` strategies choose per call (round robin, random,
 * smooth weighted round robin, least request, P2C + peak EWMA, ring hash, Maglev, label subsets); load
 * tracking, passive outlier detection and active health checks decide who is eligible.
 */
export {
  type BalanceOptions,
  type Balancer,
  balance,
  type EndpointDescription,
  type NoEndpointReason,
} from './balance.ts';
export {
  balanceChannels,
  type EjectedEvent,
  type HealthChangedEvent,
  type PickedEvent,
  type ReturnedEvent,
} from './events.ts';
export { PeakEwma } from './ewma.ts';
export type { HealthCheckOptions } from './health-check.ts';
export type { OutlierDetectionOptions } from './outlier.ts';
export {
  type BalancedEndpoint,
  hashKey,
  type Picker,
  type PickerFactory,
  type Random,
  subsetLabels,
} from './picker.ts';
export { type RandomOptions, random, roundRobin, weightedRoundRobin } from './pickers/basic.ts';
export { type MaglevOptions, maglev } from './pickers/maglev.ts';
export { leastRequest, p2cPeakEwma } from './pickers/p2c.ts';
export { type HashKeyOptions, type RingHashOptions, ringHash } from './pickers/ring-hash.ts';
export { type SubsetOptions, subset } from './pickers/subset.ts';
export { type EndpointService, endpointService } from './tracked.ts';
