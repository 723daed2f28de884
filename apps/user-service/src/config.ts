import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What `main.ts` reads from the environment beyond the mesh's own variables (`MESH_*`, `DATABASE_URL`:
 * see `createMesh()`); the README's table lists both.
 */
export interface UserServiceConfig {
  /** `PAGE_TOKEN_KEY`: the HMAC key of page tokens; default a key file in the mesh's data directory. */
  readonly pageTokenKey: string | undefined;
  /** `EVENTS_TOPIC`: one topic for every event (`user-events` on Kafka); default one per change. */
  readonly eventsTopic: string | undefined;
  /** `DATABASE_SCHEMA`: the PostgreSQL schema of the tables; default the connection's search path. */
  readonly databaseSchema: string | undefined;
}

const text = (env: NodeJS.ProcessEnv, name: string): string | undefined =>
  env[name] === undefined || env[name] === '' ? undefined : env[name];

/** Reads the service's own variables from `env`. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): UserServiceConfig {
  return {
    pageTokenKey: text(env, 'PAGE_TOKEN_KEY'),
    eventsTopic: text(env, 'EVENTS_TOPIC'),
    databaseSchema: text(env, 'DATABASE_SCHEMA'),
  };
}

/**
 * The page-token key: the given one, else `<dataDir>/page-token.key`, created with 32 random bytes on
 * first use (mode 0600) so every instance on the host shares it. Instances on several hosts must be
 * given one `PAGE_TOKEN_KEY`.
 */
export function pageTokenKeyFor(config: {
  readonly pageTokenKey: string | undefined;
  readonly dataDir: string;
}): string {
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
