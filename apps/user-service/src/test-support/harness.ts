import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedRegistry, type Registry } from '@meshkit/discovery';
import { sqliteIdempotencyStore } from '@meshkit/http';
import { type Consumer, consume, type Message } from '@meshkit/messaging';
import { type SqliteBroker, sqliteBroker } from '@meshkit/messaging-sqlite';
import type { UserEventData } from '../events.ts';
import { type RunningUserService, startUserService, type UserServiceOptions } from '../service.ts';
import { openSqliteUserStore } from '../store-sqlite.ts';

/** Files shared by the instances of one test: a host's data directory. */
export interface Host {
  readonly dir: string;
  readonly broker: SqliteBroker;
  readonly registry: Registry;
  /** Starts an instance on port 0 over the host's files. */
  start(options?: Partial<UserServiceOptions>): Promise<RunningUserService>;
  /** Stops every instance and removes the files. */
  cleanup(): Promise<void>;
}

export function testHost(): Host {
  const dir = mkdtempSync(join(tmpdir(), 'user-service-'));
  const broker = sqliteBroker({ path: join(dir, 'events.db') });
  const registry = embeddedRegistry({ path: join(dir, 'registry.db') });
  const running: RunningUserService[] = [];
  return {
    dir,
    broker,
    registry,
    async start(options = {}) {
      const service = await startUserService({
        store: openSqliteUserStore({ path: join(dir, 'users.db') }),
        idempotency: sqliteIdempotencyStore({ path: join(dir, 'idempotency.db') }),
        broker,
        registry,
        pageTokenKey: 'the test host page-token key',
        httpPort: 0,
        grpcPort: 0,
        deregisterGraceMs: 0,
        drainTimeoutMs: 2_000,
        ...options,
      });
      running.push(service);
      return service;
    },
    async cleanup() {
      for (const service of running) await service.close();
      await broker.close();
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A consumer group recording every user event it receives, in order. */
export async function observer(broker: SqliteBroker, group: string, patterns = ['user.*']) {
  const received: Message<UserEventData>[] = [];
  const waiters: { until: (all: Message<UserEventData>[]) => boolean; resolve: () => void }[] = [];
  const consumer: Consumer = await consume<UserEventData>(broker, {
    group,
    patterns,
    handler: async (msg) => {
      received.push(msg);
      for (const w of [...waiters]) {
        if (w.until(received)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
  });
  return {
    received,
    /** Resolves once `until(received)` holds. */
    waitFor(until: (all: Message<UserEventData>[]) => boolean): Promise<void> {
      if (until(received)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ until, resolve }));
    },
    stop: () => consumer.stop(),
  };
}

/** Resolves once `condition()` holds, checking on every turn of the event loop (for state with no event). */
export async function eventually(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setImmediate(resolve));
}
