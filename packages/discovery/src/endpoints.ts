import { checkString, type EndpointInit } from '@meshkit/core';
import { hostPort, type ServiceInstance } from './instance.ts';
import type { LookupOptions, Registry } from './registry.ts';

/** Options for {@link endpointSets}. */
export interface EndpointSetsOptions extends LookupOptions {
  /** Keep only instances serving this protocol (e.g. `grpc`). Defaults to every instance. */
  readonly protocol?: string;
}

/** A stream of endpoint sets that can be closed; what `balance({ endpoints })` consumes. */
export interface EndpointSets extends AsyncIterable<readonly EndpointInit[]>, Disposable {
  close(): void;
}

/**
 * Turns a registry watch into a stream of whole endpoint sets for the balancer: one set at once, then
 * one per change. Each endpoint's `address` is `host:port`, its `labels` the instance's (with `version`),
 * its `weight` the instance's.
 *
 * @example
 * ```ts
 * import { balance } from '@meshkit/balance';
 * import { httpTransport } from '@meshkit/http';
 * const registry = embeddedRegistry({ path: '.meshkit/registry.db' });
 * const users = balance({
 *   service: 'users',
 *   endpoints: endpointSets(registry, 'users', { protocol: 'http' }),
 *   connect: (endpoint) => httpTransport(endpoint.address),
 * });
 * ```
 */
export function endpointSets(
  registry: Registry,
  service: string,
  options: EndpointSetsOptions = {},
): EndpointSets {
  checkString('endpointSets.service', service);
  const protocol =
    options.protocol === undefined ? undefined : checkString('endpointSets.protocol', options.protocol);
  const watch = registry.watch(service, options);
  return {
    async *[Symbol.asyncIterator]() {
      for await (const change of watch) {
        const chosen =
          protocol === undefined
            ? change.instances
            : change.instances.filter((i) => i.protocols.includes(protocol));
        yield chosen.map(toEndpoint);
      }
    },
    close: () => watch.close(),
    [Symbol.dispose]: () => watch.close(),
  };
}

/** The balancer's view of one instance. */
export function toEndpoint(instance: ServiceInstance): EndpointInit {
  return { id: instance.id, address: hostPort(instance), labels: instance.labels, weight: instance.weight };
}
