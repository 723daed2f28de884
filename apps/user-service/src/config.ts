import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '@meshkit/core';

/** What `main.ts` reads from the environment (see the README's table). */
export interface UserServiceConfig {
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly host: string;
  readonly advertiseAddress: string | undefined;
  readonly version: string;
  readonly databaseUrl: string | undefined;
  readonly databaseSchema: string | undefined;
  readonly dataDir: string;
  readonly pageTokenKey: string | undefined;
  readonly eventsTopic: string | undefined;
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value > 65_535)
    throw new InvalidArgumentError(name, 'must be a port, 0-65535', raw);
  return value;
}

const text = (env: NodeJS.ProcessEnv, name: string): string | undefined =>
  env[name] === undefined || env[name] === '' ? undefined : env[name];

/** Reads the configuration from `env`, checking each value. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): UserServiceConfig {
  return {
    httpPort: port(env, 'PORT', 8080),
    grpcPort: port(env, 'GRPC_PORT', 50051),
    host: text(env, 'HOST') ?? '127.0.0.1',
    advertiseAddress: text(env, 'ADVERTISE_ADDRESS'),
    version: text(env, 'VERSION') ?? 'v1',
    databaseUrl: text(env, 'DATABASE_URL'),
    databaseSchema: text(env, 'DATABASE_SCHEMA'),
    dataDir: text(env, 'DATA_DIR') ?? '.meshkit',
    pageTokenKey: text(env, 'PAGE_TOKEN_KEY'),
    eventsTopic: text(env, 'EVENTS_TOPIC'),
  };
}

/**
 * The page-token key: the given one, else `<dataDir>/page-token.key`, created with 32 random bytes on
 * first use (mode 0600) so every instance on the host shares it. Instances on several hosts must be
 * given one `PAGE_TOKEN_KEY`.
 */
export function pageTokenKeyFor(config: Pick<UserServiceConfig, 'pageTokenKey' | 'dataDir'>): string {
  if (config.pageTokenKey !== undefined) return config.pageTokenKey;
  mkdirSync(config.dataDir, { recursive: true });
  const file = join(config.dataDir, 'page-token.key');
  try {
    // 'wx' fails when the file exists: of two instances starting at once, one writes, both read it.
    writeFileSync(file, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readFileSync(file, 'utf8').trim();
}
