import { InvalidArgumentError } from '@meshkit/core';
import type { InstanceHealth, ServiceInstance } from './instance.ts';
import type { Registration } from './registry.ts';

/**
 * The {@link Registration} handle a keep-alive source returns. Health reports and deregistration act
 * only while `live()` says this registration is still the current one for its id (the registry is open
 * and the id was not re-registered since), so a stale handle never touches a newer registration.
 */
export function registrationHandle(
  instance: ServiceInstance,
  live: () => boolean,
  applyHealth: (health: InstanceHealth) => Promise<void> | void,
  deregister: () => Promise<void>,
): Registration {
  const remove = async (): Promise<void> => {
    if (live()) await deregister();
  };
  return {
    instance,
    setHealth: async (health: InstanceHealth) => {
      if (health !== 'passing' && health !== 'critical') {
        throw new InvalidArgumentError('health', 'must be "passing" or "critical"', health);
      }
      if (!live()) return;
      await applyHealth(health);
    },
    deregister: remove,
    [Symbol.asyncDispose]: remove,
  };
}
