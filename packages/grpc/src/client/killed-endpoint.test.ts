// An endpoint whose process is killed (SIGKILL: no GOAWAY, no drain) in the middle of the load.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface, type Interface } from 'node:readline';
import { afterEach, describe, it } from 'node:test';
import { roundRobin } from '@meshkit/balance';
import { constantBackoff } from '@meshkit/policies';
import { GrpcStatusError } from '../errors.ts';
import { UserService } from '../gen/user/user_service_pb.ts';
import { type GrpcServer, grpcServer } from '../server/server.ts';
import type { ServiceImpl } from '../server/types.ts';
import { until } from '../test-support/streaming.ts';
import { memoryUsers } from '../test-support/users.ts';
import { Status } from '../wire/status.ts';
import { grpcClient } from './client.ts';

const servers: GrpcServer[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const s of servers.splice(0)) await s.close();
});

/** A server in this process that knows user '1'; `creates` counts the createUser calls it served. */
async function serve(): Promise<{ address: string; creates: () => number }> {
  const users = memoryUsers();
  let creates = 0;
  const impl: ServiceImpl<typeof UserService> = {
    ...users.impl,
    createUser: (request, call) => {
      creates++;
      return users.impl.createUser(request, call);
    },
  };
  await impl.createUser({ email: 'one@example.com', name: 'one' } as never, {} as never);
  creates = 0;
  const server = grpcServer().add(UserService, impl);
  servers.push(server);
  return { address: (await server.listen()).address, creates: () => creates };
}

/** The kill target in its own process; `lines` reads what it prints after its address. */
async function serveInChild(): Promise<{ child: ChildProcess; address: string; lines: string[] }> {
  const child = spawn(
    process.execPath,
    ['--conditions=@meshkit/source', new URL('../test-support/kill-target.ts', import.meta.url).pathname],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const reader: Interface = createInterface({ input: child.stdout! });
  const lines: string[] = [];
  reader.on('line', (line) => lines.push(line));
  await until(() => lines.length > 0 || child.exitCode !== null);
  const address = lines.shift();
  assert.ok(address !== undefined && child.exitCode === null, 'the child server started');
  return { child, address, lines };
}

describe('an endpoint killed mid-load', () => {
  it('idempotent calls fail over to the others; none is lost', async () => {
    const a = await serve();
    const b = await serve();
    const target = await serveInChild();
    const users = grpcClient(UserService, {
      service: 'users',
      endpoints: [a.address, target.address, b.address],
      idempotentMethods: ['getUser'],
      policies: { retry: { backoff: constantBackoff(1), maxAttempts: 4 } },
    });
    try {
      const results: string[] = [];
      const load = Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 40; i++) results.push((await users.getUser({ id: '1' })).id);
      });
      const kill = (async () => {
        await until(() => results.length >= 60);
        target.child.kill('SIGKILL');
        await once(target.child, 'exit');
      })();
      await Promise.all([...load, kill]);
      assert.equal(results.length, 320);
      assert.ok(results.every((id) => id === '1'));
    } finally {
      await users.$close();
    }
  });

  it('a non-idempotent call in flight on it fails UNAVAILABLE and is not repeated elsewhere; later ones go to the survivors', async () => {
    const a = await serve();
    const b = await serve();
    const target = await serveInChild();
    const users = grpcClient(UserService, {
      service: 'users',
      endpoints: [a.address, target.address, b.address],
      picker: roundRobin(),
      policies: { retry: { backoff: constantBackoff(1), maxAttempts: 4 }, breaker: false },
    });
    try {
      // Round robin: three of nine calls land on the target, which holds them.
      const first = Array.from({ length: 9 }, () => users.createUser({ email: 'n@example.com' }));
      const outcomes = first.map((p) =>
        p.then(
          (user) => `created ${user.id}`,
          (err: unknown) =>
            err instanceof GrpcStatusError && !err.rejected ? `failed ${err.status}` : `other ${String(err)}`,
        ),
      );
      await until(() => target.lines.length === 3 && a.creates() + b.creates() === 6);
      const exited = once(target.child, 'exit');
      target.child.kill('SIGKILL');
      const settled = await Promise.all(outcomes);
      assert.equal(settled.filter((o) => o === `failed ${Status.UNAVAILABLE}`).length, 3, settled.join(', '));
      assert.equal(a.creates() + b.creates(), 6, 'the calls the target held were not sent again');
      // Once the process is gone its port refuses connections: a call picked for it was never sent, so it
      // is retried.
      await exited;
      for (let i = 0; i < 6; i++) await users.createUser({ email: 'm@example.com' });
      assert.equal(a.creates() + b.creates(), 12);
    } finally {
      await users.$close();
    }
  });
});
