import type { Broker, Delivery } from '../broker.ts';

/** Subscribes a raw group that acks everything and records the deliveries (dead-letter inspection). */
export async function collect(
  broker: Broker,
  group: string,
  patterns: string[],
): Promise<{ deliveries: Delivery[]; close(): Promise<void> }> {
  const deliveries: Delivery[] = [];
  const sub = await broker.subscribe({
    group,
    patterns,
    prefetch: 1_000,
    onDelivery: (d) => {
      deliveries.push(d);
      void d.ack();
    },
  });
  return { deliveries, close: () => sub.close() };
}

/** A minimal Standard Schema: an object with a string `name`. */
export const nameSchema = {
  '~standard': {
    version: 1 as const,
    vendor: 'test',
    validate: (value: unknown) =>
      typeof value === 'object' && value !== null && typeof (value as { name?: unknown }).name === 'string'
        ? { value: value as { name: string } }
        : { issues: [{ message: 'expected a string', path: ['name'] }] },
  },
};
