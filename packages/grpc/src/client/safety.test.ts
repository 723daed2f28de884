// What the client repeats and what it never does: idempotency read from the proto's idempotency_level,
// hedging only for idempotent unary calls, and server pushback (grpc-retry-pushback-ms) honoured up to
// the retry policy's cap, on a fake clock.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { FakeClock } from '@meshkit/core';
import { constantBackoff } from '@meshkit/policies';
import { GrpcStatusError } from '../errors.ts';
import { LedgerService } from '../gen/meshkit/testing/v1/ledger_pb.ts';
import { type GrpcServer, grpcServer } from '../server/server.ts';
import type { ServiceImpl } from '../server/types.ts';
import { until } from '../test-support/streaming.ts';
import { Status } from '../wire/status.ts';
import { type GrpcClientOptions, grpcClient } from './client.ts';

const servers: GrpcServer[] = [];
const clients: { $close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.$close();
  for (const s of servers.splice(0)) await s.close();
});

/** A ledger server whose handlers count their calls; each handler is the test's. */
async function serve(impl: Partial<ServiceImpl<typeof LedgerService>>): Promise<string> {
  const fallback = (): never => {
    throw new GrpcStatusError(Status.UNIMPLEMENTED, 'not in this test');
  };
  const server = grpcServer().add(LedgerService, {
    balance: fallback,
    set: fallback,
    add: fallback,
    ...impl,
  });
  servers.push(server);
  return (await server.listen()).address;
}

function ledger(address: string, options: Partial<GrpcClientOptions> = {}) {
  const client = grpcClient(LedgerService, {
    service: 'ledger',
    endpoints: [address],
    ...options,
    policies: { retry: { backoff: constantBackoff(1) }, ...options.policies },
  });
  clients.push(client);
  return client;
}

describe('idempotency from the proto', () => {
  it('retries UNAVAILABLE after the request reached the server only for NO_SIDE_EFFECTS and IDEMPOTENT methods', async () => {
    const calls = { balance: 0, set: 0, add: 0 };
    const unavailableTwice = (name: keyof typeof calls) => (request: { accountId?: string; id?: string }) => {
      if (++calls[name] < 3) throw new GrpcStatusError(Status.UNAVAILABLE, 'warming up');
      return { accountId: request.accountId ?? request.id ?? '', cents: 1n };
    };
    const address = await serve({
      balance: unavailableTwice('balance'),
      set: unavailableTwice('set'),
      add: unavailableTwice('add'),
    });
    // No idempotentMethods option: what is safe to repeat comes from the .proto alone.
    const client = ledger(address);
    assert.equal((await client.balance({ id: 'a' })).accountId, 'a');
    assert.equal((await client.set({ accountId: 'a', cents: 5n })).accountId, 'a');
    await assert.rejects(
      client.add({ accountId: 'a', cents: 5n }),
      (err: unknown) => err instanceof GrpcStatusError && err.status === Status.UNAVAILABLE,
    );
    assert.deepEqual(calls, { balance: 3, set: 3, add: 1 });
  });

  it('hedges a slow NO_SIDE_EFFECTS call and cancels the loser on its server; never hedges a non-idempotent one', async () => {
    const calls = { balance: 0, add: 0 };
    const cancelled: string[] = [];
    const address = await serve({
      balance: async (request, call) => {
        if (++calls.balance === 1) {
          await new Promise<void>((resolve) => call.ctx.onAbort(() => resolve()));
          cancelled.push('balance');
          return { accountId: 'slow' };
        }
        return { accountId: request.id };
      },
      add: async (request) => {
        calls.add++;
        // Slower than the hedge delay many times over: a hedge would have gone out by now.
        await new Promise((resolve) => setTimeout(resolve, 200));
        return { accountId: request.accountId, cents: request.cents };
      },
    });
    const client = ledger(address, { policies: { retry: false, hedge: { delayMs: 10 } } });
    assert.equal((await client.balance({ id: 'fast' })).accountId, 'fast');
    assert.equal(calls.balance, 2);
    await until(() => cancelled.length === 1);
    assert.equal((await client.add({ accountId: 'a', cents: 2n })).cents, 2n);
    assert.equal(calls.add, 1, 'a non-idempotent call is never hedged');
  });
});

describe('RESOURCE_EXHAUSTED with grpc-retry-pushback-ms', () => {
  /** A server that answers RESOURCE_EXHAUSTED with `pushback` the first time, then the balance. */
  async function busyOnce(pushback: string): Promise<{ address: string; calls: () => number }> {
    let calls = 0;
    const address = await serve({
      balance: (request, call) => {
        if (++calls === 1) {
          call.setTrailer({ 'grpc-retry-pushback-ms': pushback });
          throw new GrpcStatusError(Status.RESOURCE_EXHAUSTED, 'over quota');
        }
        return { accountId: request.id, cents: 7n };
      },
      add: (_request, call) => {
        calls++;
        call.setTrailer({ 'grpc-retry-pushback-ms': '0' });
        throw new GrpcStatusError(Status.RESOURCE_EXHAUSTED, 'over quota');
      },
    });
    return { address, calls: () => calls };
  }

  it('waits the pushback before retrying, however short the backoff', async () => {
    const clock = new FakeClock();
    const server = await busyOnce('400');
    const client = ledger(server.address, { clock });
    const pending = client.balance({ id: 'a' });
    // The retry's wait is the one timer that holds the process for the call.
    await until(() => clock.refTimers === 1);
    assert.equal(server.calls(), 1);
    await clock.advance(399);
    assert.equal(clock.refTimers, 1, 'still waiting 1 ms before the pushback ends');
    await clock.advance(1);
    assert.equal((await pending).cents, 7n);
    assert.equal(server.calls(), 2);
  });

  it("caps a long pushback at the retry policy's maxDelayMs", async () => {
    const clock = new FakeClock();
    const server = await busyOnce(String(60 * 60 * 1000));
    const client = ledger(server.address, {
      clock,
      policies: { retry: { backoff: constantBackoff(1), maxDelayMs: 1_000 } },
    });
    const pending = client.balance({ id: 'a' });
    await until(() => clock.refTimers === 1);
    await clock.advance(999);
    assert.equal(clock.refTimers, 1);
    await clock.advance(1);
    assert.equal((await pending).cents, 7n);
    assert.equal(server.calls(), 2);
  });

  it('gives up at once when the pushback would outlast the deadline', async () => {
    const clock = new FakeClock();
    const server = await busyOnce('5000');
    const client = ledger(server.address, { clock, policies: { deadlineMs: 2_000 } });
    await assert.rejects(
      client.balance({ id: 'a' }),
      (err: unknown) => err instanceof GrpcStatusError && err.status === Status.RESOURCE_EXHAUSTED,
    );
    assert.equal(server.calls(), 1);
  });

  it('never repeats a non-idempotent call the server answered, pushback or not', async () => {
    const server = await busyOnce('0');
    const client = ledger(server.address);
    await assert.rejects(
      client.add({ accountId: 'a', cents: 1n }),
      (err: unknown) => err instanceof GrpcStatusError && err.status === Status.RESOURCE_EXHAUSTED,
    );
    assert.equal(server.calls(), 1);
  });
});
