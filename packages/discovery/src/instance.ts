import { InvalidArgumentError } from '@meshkit/core';
import { checkInteger, checkNumber, checkString } from '@meshkit/core/internal';

/**
 * What a registry stores about one running copy of a service, and the checks that keep bad input out.
 */

/** How an instance's health is checked. The registry stores it; active checkers and agents (Consul) run it. */
export type HealthCheckSpec =
  | {
      readonly type: 'http';
      /** Path to `GET`, e.g. `/healthz`. */
      readonly path: string;
      /** Status that counts as healthy. Defaults to any 2xx. */
      readonly expectedStatus?: number;
      readonly intervalMs?: number;
      readonly timeoutMs?: number;
    }
  | { readonly type: 'tcp'; readonly intervalMs?: number; readonly timeoutMs?: number }
  | {
      readonly type: 'grpc';
      /** Service name sent in `grpc.health.v1.HealthCheckRequest`; `''` means the whole server. */
      readonly service?: string;
      readonly intervalMs?: number;
      readonly timeoutMs?: number;
    }
  | {
      /** The instance reports its own health (`Registration.setHealth`); Consul's TTL check. */
      readonly type: 'ttl';
    };

/** Health as the registry sees it. Only `passing` instances are returned by default. */
export type InstanceHealth = 'passing' | 'critical';

/** What a caller hands to {@link Registry.register}. */
export interface InstanceInit {
  /** Unique within the registry, e.g. `user-service-10.0.0.7-8080`. */
  readonly id: string;
  /** The service name callers look up, e.g. `user-service`. */
  readonly service: string;
  /** Host name or IP address. */
  readonly address: string;
  /** TCP port, 1..65535. */
  readonly port: number;
  /** Protocols served on the port, e.g. `['http']`, `['grpc']`. Defaults to `['http']`. */
  readonly protocols?: readonly string[];
  /** Deployed version, also exposed as the `version` label for subsets. */
  readonly version?: string;
  /** Free-form labels (`zone=a`, `canary=true`). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Relative weight for weighted balancing, > 0. Defaults to 1. */
  readonly weight?: number;
  /** How to check the instance's health, if at all. */
  readonly check?: HealthCheckSpec;
}

/** A registered instance, validated and normalised, as every source returns it. */
export interface ServiceInstance {
  readonly id: string;
  readonly service: string;
  readonly address: string;
  readonly port: number;
  readonly protocols: readonly string[];
  readonly version: string | undefined;
  /** Labels, with `version` filled in from {@link ServiceInstance.version} when it is set. */
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
  readonly check: HealthCheckSpec | undefined;
  readonly health: InstanceHealth;
}

const serviceName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Validates `init` and returns the normalised instance (health `passing`). Throws
 * {@link InvalidArgumentError} naming the field, e.g. `instance.port must be an integer between 1 and 65535`.
 *
 * @example
 * ```ts
 * const instance = validateInstance({ id: 'a', service: 'users', address: '127.0.0.1', port: 8080 });
 * ```
 */
export function validateInstance(init: InstanceInit, field = 'instance'): ServiceInstance {
  if (typeof init !== 'object' || init === null) {
    throw new InvalidArgumentError(field, 'must be an object', init);
  }
  const id = checkString(`${field}.id`, init.id);
  const service = checkString(`${field}.service`, init.service);
  if (!serviceName.test(service)) {
    throw new InvalidArgumentError(
      `${field}.service`,
      'must start with a letter or digit and hold only letters, digits, ".", "_" and "-"',
      service,
    );
  }
  if (id.includes('/')) throw new InvalidArgumentError(`${field}.id`, 'must not contain "/"', id);
  const address = checkString(`${field}.address`, init.address);
  const port = checkInteger(`${field}.port`, init.port, 1, 65_535);
  const protocols = init.protocols ?? ['http'];
  if (!Array.isArray(protocols) || protocols.length === 0) {
    throw new InvalidArgumentError(`${field}.protocols`, 'must be a non-empty array of strings', protocols);
  }
  for (const [i, p] of protocols.entries()) checkString(`${field}.protocols[${i}]`, p);
  const version = init.version === undefined ? undefined : checkString(`${field}.version`, init.version);
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(init.labels ?? {})) {
    if (typeof value !== 'string') {
      throw new InvalidArgumentError(`${field}.labels.${key}`, 'must be a string', value);
    }
    labels[key] = value;
  }
  if (version !== undefined) labels.version ??= version;
  const weight = init.weight === undefined ? 1 : checkNumber(`${field}.weight`, init.weight, 0);
  if (weight === 0 || weight === Infinity) {
    throw new InvalidArgumentError(`${field}.weight`, 'must be a finite number > 0', weight);
  }
  const check = init.check === undefined ? undefined : validateCheck(init.check, `${field}.check`);
  return Object.freeze({
    id,
    service,
    address,
    port,
    protocols: Object.freeze([...protocols]),
    version,
    labels: Object.freeze(labels),
    weight,
    check,
    health: 'passing',
  });
}

function validateCheck(check: HealthCheckSpec, field: string): HealthCheckSpec {
  if (typeof check !== 'object' || check === null) {
    throw new InvalidArgumentError(field, 'must be an object', check);
  }
  switch (check.type) {
    case 'http':
      if (typeof check.path !== 'string' || !check.path.startsWith('/')) {
        throw new InvalidArgumentError(`${field}.path`, 'must be a path starting with "/"', check.path);
      }
      if (check.expectedStatus !== undefined) {
        checkInteger(`${field}.expectedStatus`, check.expectedStatus, 100, 599);
      }
      break;
    case 'tcp':
    case 'grpc':
    case 'ttl':
      break;
    default:
      throw new InvalidArgumentError(
        `${field}.type`,
        'must be one of "http", "tcp", "grpc", "ttl"',
        (check as { type?: unknown }).type,
      );
  }
  if ('intervalMs' in check && check.intervalMs !== undefined) {
    checkNumber(`${field}.intervalMs`, check.intervalMs, 1);
  }
  if ('timeoutMs' in check && check.timeoutMs !== undefined) {
    checkNumber(`${field}.timeoutMs`, check.timeoutMs, 1);
  }
  return Object.freeze({ ...check });
}

/** The error for registering an id that is already live at another address. */
export function duplicateIdError(field: string, id: string, existing: string, wanted: string): Error {
  return new InvalidArgumentError(
    `${field}.id`,
    `"${id}" is already registered at ${existing}; deregister it first or choose another id (wanted ${wanted})`,
  );
}

/** `host:port`, with IPv6 literals in brackets. */
export function hostPort(instance: { readonly address: string; readonly port: number }): string {
  return instance.address.includes(':')
    ? `[${instance.address}]:${instance.port}`
    : `${instance.address}:${instance.port}`;
}

/** Instances that may take traffic. */
export function filterHealthy(
  instances: readonly ServiceInstance[],
  healthyOnly: boolean,
): readonly ServiceInstance[] {
  return healthyOnly ? instances.filter((i) => i.health === 'passing') : instances;
}

/**
 * Rebuilds an instance from its stored JSON (as written by `JSON.stringify` of a {@link ServiceInstance}),
 * restoring the fields JSON drops so stored and fresh instances compare equal.
 */
export function instanceFromJson(json: string, health: InstanceHealth): ServiceInstance {
  const data = JSON.parse(json) as Omit<ServiceInstance, 'health'>;
  return Object.freeze({
    id: data.id,
    service: data.service,
    address: data.address,
    port: data.port,
    protocols: Object.freeze([...data.protocols]),
    version: data.version ?? undefined,
    labels: Object.freeze({ ...data.labels }),
    weight: data.weight,
    check: data.check ?? undefined,
    health,
  });
}
