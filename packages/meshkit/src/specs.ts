import { isAbsolute, resolve } from 'node:path';
import { InvalidArgumentError } from '@meshkit/core';

/** Where the registry lives: the embedded SQLite file, or an etcd cluster. */
export type RegistrySpec =
  | { readonly kind: 'embedded'; readonly path: string }
  | { readonly kind: 'etcd'; readonly url: string; readonly prefix?: string };

/** Where events go: the embedded SQLite broker, RabbitMQ or Kafka. */
export type BrokerSpec =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'amqp'; readonly url: string }
  | { readonly kind: 'kafka'; readonly brokers: readonly string[] };

const registryForms = 'a file path, sqlite:[path] or etcd://host:port[/prefix]';
const brokerForms = 'sqlite:[path], amqp://…, amqps://… or kafka://host:port[,host:port]';

/** A path as given, resolved against `cwd` when relative. */
export function resolvePath(cwd: string, path: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}

/**
 * Reads a registry spec: `etcd://host:port[/prefix]`, `sqlite:[path]` or a plain file path (both the
 * embedded registry; an empty `sqlite:` path means `<dataDir>/registry.db`).
 */
export function parseRegistrySpec(field: string, value: string, cwd: string, dataDir: string): RegistrySpec {
  if (value.trim() === '') throw new InvalidArgumentError(field, `must be ${registryForms}`, value);
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length);
    return { kind: 'embedded', path: path === '' ? resolve(dataDir, 'registry.db') : resolvePath(cwd, path) };
  }
  if (value.startsWith('etcd://')) {
    const url = parseUrl(field, value, registryForms);
    const port = checkPort(field, url.port, value);
    const prefix = url.pathname === '' || url.pathname === '/' ? undefined : withSlash(url.pathname);
    return {
      kind: 'etcd',
      url: `http://${url.hostname}:${port}`,
      ...(prefix === undefined ? {} : { prefix }),
    };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new InvalidArgumentError(field, `must be ${registryForms}`, value);
  }
  return { kind: 'embedded', path: resolvePath(cwd, value) };
}

/** Reads a broker spec: `sqlite:[path]`, `amqp://…`/`amqps://…`, or `kafka://host:port[,host:port]`. */
export function parseBrokerSpec(field: string, value: string, cwd: string, dataDir: string): BrokerSpec {
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length);
    return { kind: 'sqlite', path: path === '' ? resolve(dataDir, 'events.db') : resolvePath(cwd, path) };
  }
  if (value.startsWith('amqp://') || value.startsWith('amqps://')) {
    const url = parseUrl(field, value, brokerForms);
    if (url.port !== '') checkPort(field, url.port, value);
    return { kind: 'amqp', url: value };
  }
  if (value.startsWith('kafka://')) {
    const list = value.slice('kafka://'.length).replace(/\/$/, '');
    const brokers = list.split(',').map((entry) => {
      const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):(\d+)$/i.exec(entry.trim());
      if (match === null) {
        throw new InvalidArgumentError(field, `must list brokers as kafka://host:port[,host:port]`, value);
      }
      checkPort(field, match[2]!, value);
      return entry.trim();
    });
    return { kind: 'kafka', brokers };
  }
  throw new InvalidArgumentError(field, `must be ${brokerForms}`, value);
}

/** Checks a PostgreSQL connection URL (`postgres://` or `postgresql://`). */
export function parseDatabaseUrl(field: string, value: string): string {
  if (!/^postgres(ql)?:\/\//.test(value)) {
    throw new InvalidArgumentError(field, 'must be a postgres:// or postgresql:// URL', redact(value));
  }
  parseUrl(field, value, 'a postgres:// URL');
  return value;
}

/** A port from an environment variable or option: an integer in 0..65535. */
export function parsePort(field: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65_535) {
    throw new InvalidArgumentError(field, 'must be a port number from 0 to 65535', value);
  }
  return Number(value);
}

/** A label value (Kubernetes rules): up to 63 letters, digits, `-`, `_`, `.`, alphanumeric at both ends. */
export function parseLabelValue(field: string, value: string): string {
  if (!/^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/.test(value)) {
    throw new InvalidArgumentError(
      field,
      'must be 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit',
      value,
    );
  }
  return value;
}

function parseUrl(field: string, value: string, forms: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(field, `must be ${forms}`, redact(value));
  }
  if (url.hostname === '') throw new InvalidArgumentError(field, 'must name a host', redact(value));
  return url;
}

function checkPort(field: string, port: string, value: string): number {
  const n = Number(port);
  if (port === '' || !Number.isInteger(n) || n < 1 || n > 65_535) {
    throw new InvalidArgumentError(field, 'must give a port from 1 to 65535', redact(value));
  }
  return n;
}

function withSlash(path: string): string {
  return path.endsWith('/') ? path : `${path}/`;
}

/** The URL with its password replaced, for error messages. */
export function redact(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}
