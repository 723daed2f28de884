import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createContext,
  ErrorCode,
  FakeClock,
  InvalidArgumentError,
  isMeshError,
  type Service,
  stack,
} from '@meshkit/core';
import type { IncomingCall } from './call.ts';
import { deadlineLayer } from './deadline.ts';
import { drainLayer } from './drain.ts';
import { Lifecycle } from './lifecycle.ts';

// The drain and deadline layers know nothing of HTTP: here they run over a gRPC-shaped call and reply.
interface UnaryCall extends IncomingCall {
  readonly method: string;
  readonly message: Uint8Array;
}
interface UnaryReply {
  readonly code: number;
}

const call = (timeoutMs: number | undefined | null): UnaryCall => ({
  method: '/user.UserService/GetUser',
  metadata: {},
  timeoutMs,
  message: new Uint8Array(),
});

describe('server layers over a transport-neutral call', () => {
  it('deadline: the caller’s budget becomes the context deadline; spent is refused before work; malformed names the field', async () => {
    const clock = new FakeClock();
    const seen: (number | undefined)[] = [];
    const handler: Service<UnaryCall, UnaryReply> = async (_req, ctx) => {
      seen.push(ctx.remainingMs());
      return { code: 0 };
    };
    const service = deadlineLayer<UnaryCall, UnaryReply>({ field: 'metadata:grpc-timeout' }).wrap(handler);
    const ctx = createContext({ clock });
    assert.deepEqual(await service(call(250), ctx), { code: 0 });
    assert.deepEqual(await service(call(undefined), ctx), { code: 0 });
    await assert.rejects(
      service(call(0), ctx),
      (e: unknown) => isMeshError(e) && e.code === ErrorCode.DEADLINE_EXCEEDED && e.rejected,
    );
    await assert.rejects(
      service(call(null), ctx),
      (e: unknown) => e instanceof InvalidArgumentError && e.field === 'metadata:grpc-timeout',
    );
    assert.deepEqual(seen, [250, Number.POSITIVE_INFINITY]);
  });

  it('drain: counts calls in flight until they settle, then refuses new ones before work while shutting down', async () => {
    const clock = new FakeClock();
    const lifecycle = new Lifecycle('users', undefined, {}, { signals: false, exit: false }, clock);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let ran = 0;
    const service = stack(
      drainLayer<UnaryCall, UnaryReply>(lifecycle),
      deadlineLayer<UnaryCall, UnaryReply>({ field: 'metadata:grpc-timeout' }),
    ).wrap(async () => {
      ran++;
      await gate;
      return { code: 0 };
    });
    const ctx = createContext({ clock });
    const inFlight = service(call(undefined), ctx);
    assert.equal(lifecycle.inFlight, 1);
    const order: string[] = [];
    const shutdown = lifecycle.shutdown().then(() => order.push('drained'));
    await new Promise((r) => setImmediate(r));
    assert.equal(lifecycle.draining, true);
    await assert.rejects(
      service(call(undefined), ctx),
      (e: unknown) => isMeshError(e) && e.code === ErrorCode.CLOSED && e.rejected && e.retryable,
    );
    assert.equal(ran, 1, 'the refused call did no work');
    release();
    await inFlight.then(() => order.push('answered'));
    await shutdown;
    assert.deepEqual(order, ['answered', 'drained']);
    assert.equal(lifecycle.inFlight, 0);
  });
});
