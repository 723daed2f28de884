/**
 * `@meshkit/client`: the one client pipeline every transport shares (`clientStack()`): route, your
 * layers, overall deadline, hedge, retry with budget, balancer, and per endpoint a breaker, a bulkhead and an
 * attempt timeout over the transport.
 */
export {
  type ClientPolicyOptions,
  type ClientStack,
  type ClientStackOptions,
  clientStack,
} from './client-stack.ts';
export type { ConnectHints } from './endpoint-policy.ts';
export { isRetryableCallError } from './failures.ts';
export { HedgeAttempts, hedgeAttempts, spreadHedges } from './hedge-slot.ts';
export type { CallDescription, CallObservation } from './observe.ts';
