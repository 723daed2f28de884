import {
  type BalancedEndpoint,
  leastRequest,
  type Picker,
  p2cPeakEwma,
  random,
  ringHash,
  roundRobin,
} from '@meshkit/balance';
import type { CallContext } from '@meshkit/core';
import { routeDecision } from '@meshkit/routing';

type Kind = 'default' | 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'HASH';

const makers: Readonly<Record<Kind, () => Picker>> = {
  default: () => p2cPeakEwma(),
  ROUND_ROBIN: roundRobin,
  LEAST_REQUEST: () => leastRequest(),
  RANDOM: () => random(),
  // Reads the `hashKey` slot, which routePolicies fills from the routing layer's hash key.
  HASH: () => ringHash(),
};

/**
 * A picker that balances each call the way its route's DestinationRule asks (`loadBalancer.simple`
 * ROUND_ROBIN, LEAST_REQUEST, RANDOM, or `consistentHash` over a ring), and by P2C + peak EWMA when it
 * asks nothing. Its pickers are made on first use and all see the same endpoints; one per subset group
 * when used inside `subset()`.
 */
export function routePicker<Req>(): Picker<Req> {
  const pickers = new Map<Kind, Picker>();
  let endpoints: readonly BalancedEndpoint[] = [];
  const pickerFor = (kind: Kind): Picker => {
    let picker = pickers.get(kind);
    if (picker === undefined) {
      picker = makers[kind]();
      picker.update(endpoints);
      pickers.set(kind, picker);
    }
    return picker;
  };
  return {
    name: 'route-policy',
    update(next) {
      endpoints = next;
      for (const picker of pickers.values()) picker.update(next);
    },
    pick(req: Req, ctx: CallContext) {
      const lb = ctx.get(routeDecision)?.trafficPolicy?.loadBalancer;
      const kind: Kind =
        lb === undefined
          ? 'default'
          : lb.consistentHash !== undefined
            ? 'HASH'
            : lb.simple === 'ROUND_ROBIN' || lb.simple === 'LEAST_REQUEST' || lb.simple === 'RANDOM'
              ? lb.simple
              : 'default';
      return pickerFor(kind).pick(req, ctx);
    },
  };
}
