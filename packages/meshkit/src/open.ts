import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidArgumentError } from '@meshkit/core';
import { embeddedRegistry, type Registry } from '@meshkit/discovery';
import type { Broker } from '@meshkit/messaging';
import { sqliteBroker } from '@meshkit/messaging-sqlite';
import { formatIssue, RouteConfigError, type RouteSource, watchRoutes } from '@meshkit/routing';
import type { MeshConfig } from './config.ts';
import { redact } from './specs.ts';

/** Something a mesh opened and must close, or `undefined` when it was handed an instance. */
export interface Opened<T> {
  readonly value: T;
  readonly close: (() => Promise<void>) | undefined;
}

/** The registry of a configuration. etcd is imported only when asked for. */
export async function openRegistry(config: MeshConfig): Promise<Opened<Registry>> {
  const field = config.sources.registry;
  const spec = config.registry;
  switch (spec.kind) {
    case 'instance':
      return { value: spec.registry, close: undefined };
    case 'embedded': {
      makeDir(field, dirname(spec.path));
      const registry = embeddedRegistry({ path: spec.path });
      return { value: registry, close: () => registry.close() };
    }
    case 'etcd': {
      const { etcdRegistry } = await import('@meshkit/discovery');
      const registry = etcdRegistry({
        url: spec.url,
        ...(spec.prefix === undefined ? {} : { prefix: spec.prefix }),
      });
      return { value: registry, close: () => registry.close() };
    }
  }
}

/** The broker of a configuration. The RabbitMQ and Kafka adapters are imported only when asked for. */
export async function openBroker(config: MeshConfig): Promise<Opened<Broker> | undefined> {
  const field = config.sources.broker;
  const spec = config.broker;
  switch (spec.kind) {
    case 'none':
      return undefined;
    case 'instance':
      return { value: spec.broker, close: undefined };
    case 'sqlite': {
      makeDir(field, dirname(spec.path));
      const broker = sqliteBroker({ path: spec.path });
      return { value: broker, close: () => broker.close() };
    }
    case 'amqp': {
      const { amqpBroker } = await import('@meshkit/messaging-amqp');
      let broker: Broker;
      try {
        broker = await amqpBroker({ url: spec.url });
      } catch (error) {
        throw new InvalidArgumentError(
          field,
          `cannot connect: ${(error as Error).message}`,
          redact(spec.url),
        );
      }
      return { value: broker, close: () => broker.close() };
    }
    case 'kafka': {
      const { kafkaBroker } = await import('@meshkit/messaging-kafka');
      const broker = kafkaBroker({ brokers: [...spec.brokers] });
      return { value: broker, close: () => broker.close() };
    }
  }
}

/** The routes of a configuration: a watched file or directory, a source given as is, or none. */
export async function openRoutes(config: MeshConfig): Promise<Opened<RouteSource> | undefined> {
  const field = config.sources.routes;
  const routes = config.routes;
  if (routes === undefined) return undefined;
  if (typeof routes !== 'string') return { value: routes, close: undefined };
  try {
    const watcher = await watchRoutes(routes);
    return { value: watcher, close: async () => watcher.close() };
  } catch (error) {
    if (error instanceof RouteConfigError) {
      const found = error.issues.filter((i) => i.severity === 'error').map(formatIssue);
      throw new InvalidArgumentError(field, `names invalid routes: ${found.join('; ')}`, routes);
    }
    throw error;
  }
}

function makeDir(field: string, dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new InvalidArgumentError(
      field,
      `needs a directory that can be created: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      dir,
    );
  }
}
