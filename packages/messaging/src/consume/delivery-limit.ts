import type { Layer } from '@meshkit/core';
import type { Delivery } from '../broker.ts';
import { deadLetterFor, type Settlement } from './settlement.ts';

/**
 * The first layer of a consumer: a message delivered more than `maxDeliveries` times without being
 * settled (its consumers keep dying on it) is dead-lettered (`delivery-limit`) instead of handled, where
 * the broker counts deliveries.
 */
export function deliveryLimitLayer(maxDeliveries: number): Layer<Delivery, Settlement> {
  return {
    name: 'delivery-limit',
    wrap: (next) => (delivery, ctx) => {
      const count = delivery.deliveryCount;
      if (count === undefined || count <= maxDeliveries) return next(delivery, ctx);
      const error = new Error(`delivered ${count} times without being settled`);
      return Promise.resolve(deadLetterFor('delivery-limit', error));
    },
    describe: () => ({ maxDeliveries }),
  };
}
