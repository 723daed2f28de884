// Client- and bidi-streaming calls from grpcClient() against meshkit's own server.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { roundRobin } from '@meshkit/balance';
import { ErrorCode, isAbortError } from '@meshkit/core';
import { constantBackoff } from '@meshkit/policies';
import { GrpcStatusError } from '../errors.ts';
import { StreamingService } from '../gen/meshkit/testing/v1/streaming_pb.ts';
import { type GrpcServer, grpcServer } from '../server/server.ts';
import type { ServiceImpl } from '../server/types.ts';
import { chunks, gate, numbers, range, type SourceState, settled, until } from '../test-support/streaming.ts';
import { Status } from '../wire/status.ts';
import { grpcClient } from './client.ts';

const servers: GrpcServer[] = [];
const clients: { $close(): Promise<void> }[] = [];

const sumAndEcho: ServiceImpl<typeof StreamingService> = {
  async sum(requests) {
    let sum = 0n;
    let count = 0n;
    for await (const n of requests) {
      if (n.value < 0n) throw new GrpcStatusError(Status.INVALID_ARGUMENT, `negative number ${n.value}`);
      sum += n.value;
      count++;
    }
    return { sum, count };
  },
  async *echo(requests) {
    for await (const chunk of requests) yield chunk;
  },
};

async function serve(impl: Partial<ServiceImpl<typeof StreamingService>> = {}): Promise<{
  server: GrpcServer;
  address: string;
}> {
  const server = grpcServer({ shutdownGraceMs: 1_000 }).add(StreamingService, { ...sumAndEcho, ...impl });
  servers.push(server);
  const { address } = await server.listen();
  return { server, address };
}

function client(
  endpoints: string[],
  options: Parameters<typeof grpcClient>[1] extends infer O ? Partial<O> : never = {},
) {
  const c = grpcClient(StreamingService, {
    service: 'streaming',
    endpoints,
    ...options,
    policies: { retry: { backoff: constantBackoff(1) }, ...options.policies },
  });
  clients.push(c);
  return c;
}

const state = (): SourceState => ({ pulled: 0, finished: false });

afterEach(async () => {
  for (const c of clients.splice(0)) await c.$close();
  for (const s of servers.splice(0)) await s.close();
});

describe('grpcClient client streaming and bidi (meshkit server)', () => {
  it('sums a client stream and half-closes when the iterable ends', async () => {
    const { address } = await serve();
    const calc = client([address]);
    const source = state();
    const total = await calc.sum(numbers(range(1_000), source));
    assert.equal(total.sum, 500_500n);
    assert.equal(total.count, 1_000n);
    assert.deepEqual(source, { pulled: 1_000, finished: true });
    const inFlight = (calc.$describe().balancer as { endpoints: { inFlight: number }[] }).endpoints[0]!
      .inFlight;
    assert.equal(inFlight, 0);
  });

  it('echoes a bidi stream in order; the balancer holds the call until the stream ends', async () => {
    const { address } = await serve();
    const calc = client([address]);
    const inFlight = (): number =>
      (calc.$describe().balancer as { endpoints: { inFlight: number }[] }).endpoints[0]!.inFlight;
    const source = state();
    const seen: { text: string; inFlight: number }[] = [];
    for await (const chunk of calc.echo(chunks(5, 10, source))) {
      seen.push({ text: chunk.text, inFlight: inFlight() });
    }
    assert.deepEqual(
      seen,
      ['0', '1', '2', '3', '4'].map((text) => ({ text, inFlight: 1 })),
    );
    assert.equal(inFlight(), 0);
    assert.equal(source.finished, true);
  });

  it('answers a bidi stream whose server writes before the client sent anything', async () => {
    const { address } = await serve({
      async *echo(requests) {
        yield { text: 'hello' };
        for await (const chunk of requests) yield chunk;
      },
    });
    const calc = client([address]);
    const replies = gate();
    async function* afterHello() {
      await replies.promise;
      yield { text: 'late' };
    }
    const seen: string[] = [];
    for await (const chunk of calc.echo(afterHello())) {
      seen.push(chunk.text);
      replies.open();
    }
    assert.deepEqual(seen, ['hello', 'late']);
  });

  it('fails with the server status when the server errors early, and stops reading the iterable', async () => {
    const { address } = await serve();
    const calc = client([address]);
    const source = state();
    const values = [1, 2, -1, ...Array.from({ length: 200_000 }, () => 1)];
    await assert.rejects(calc.sum(numbers(values, source)), (err: unknown) => {
      assert.ok(err instanceof GrpcStatusError);
      assert.equal(err.status, Status.INVALID_ARGUMENT);
      assert.match(err.grpcMessage, /negative number -1/);
      return true;
    });
    await until(() => source.finished);
    assert.ok(source.pulled < values.length, `read ${source.pulled} of ${values.length} messages`);
  });

  it('cancels a bidi stream mid-way on the server and closes the request iterable', async () => {
    const ended = gate();
    const { address, server } = await serve({
      async *echo(requests, call) {
        try {
          for await (const chunk of requests) yield chunk;
        } catch (error) {
          // The request stream throws the cancellation rather than ending as if the client half-closed.
          if (isAbortError(error) && call.ctx.aborted) ended.open();
          throw error;
        }
      },
    });
    const calc = client([address]);
    const controller = new AbortController();
    const more = gate();
    const source = state();
    async function* slow() {
      try {
        yield { text: 'first' };
        await more.promise;
        yield { text: 'never sent' };
      } finally {
        source.finished = true;
      }
    }
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of calc.echo(slow(), { signal: controller.signal })) {
          seen.push(chunk.text);
          controller.abort();
        }
      })(),
      (err: unknown) => isAbortError(err),
    );
    more.open();
    await ended.promise;
    await until(() => source.finished && server.inFlight === 0);
    assert.deepEqual(seen, ['first']);
  });

  it('a client stream cancelled mid-way never looks complete to the handler: it sees the cancel, not the end', async () => {
    const outcomes: string[] = [];
    const { address, server } = await serve({
      async sum(requests, call) {
        let sum = 0n;
        try {
          for await (const n of requests) sum += n.value;
        } catch (error) {
          outcomes.push(isAbortError(error) && call.ctx.aborted ? 'cancelled' : `failed: ${String(error)}`);
          throw error;
        }
        // A cancel taken for a half-close would commit a partial sum here.
        outcomes.push(`completed with ${sum}`);
        return { sum };
      },
    });
    const calc = client([address], { policies: { retry: false } });
    for (let i = 0; i < 5; i++) {
      const controller = new AbortController();
      const more = gate();
      async function* partial() {
        yield { value: 1n };
        yield { value: 2n };
        await more.promise;
        yield { value: 3n };
      }
      const pending = calc.sum(partial(), { signal: controller.signal });
      await until(() => server.inFlight === 1);
      controller.abort();
      await assert.rejects(pending, (err: unknown) => isAbortError(err));
      more.open();
      await until(() => outcomes.length === i + 1 && server.inFlight === 0);
    }
    assert.deepEqual(outcomes, Array(5).fill('cancelled'));
  });

  it('ends a bidi stream at its deadline mid-way with ERR_DEADLINE_EXCEEDED; the handler is cancelled', async () => {
    const ended = gate();
    const { address } = await serve({
      async *echo(requests, call) {
        try {
          for await (const chunk of requests) {
            yield chunk;
            await new Promise<void>((resolve) => call.ctx.onAbort(() => resolve()));
          }
        } finally {
          ended.open();
        }
      },
    });
    const calc = client([address]);
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of calc.echo(chunks(3, 1, state()), { timeoutMs: 300 })) seen.push(chunk.text);
      })(),
      (err: unknown) => (err as { code?: string }).code === ErrorCode.DEADLINE_EXCEEDED,
    );
    await ended.promise;
    assert.deepEqual(seen, ['0']);
  });

  it('reads the request iterable only as fast as a server that stopped reading lets it', async () => {
    const resume = gate();
    let read = 0;
    const { address } = await serve({
      async *echo(requests) {
        for await (const _ of requests) {
          read++;
          if (read === 2) await resume.promise;
        }
        yield { text: String(read) };
      },
    });
    const calc = client([address]);
    const source = state();
    const total = 2_000;
    const replies = calc.echo(chunks(total, 16 * 1024, source))[Symbol.asyncIterator]();
    const pending = replies.next();
    await until(() => read === 2);
    const ahead = await settled(() => source.pulled);
    // 16 KiB messages: the server's 16-message buffer, the HTTP/2 window (64 KiB) and the stream's
    // write buffer hold a few dozen at most; without flow control all 2,000 (32 MiB) would be read.
    assert.ok(ahead < 100, `read ${ahead} messages while the server read 2`);
    resume.open();
    const reply = await pending;
    assert.equal(reply.value?.text, String(total), 'every message arrived once the server read again');
    assert.equal(source.pulled, total);
    await replies.return?.();
  });

  it('carries large messages both ways; one over the server limit is RESOURCE_EXHAUSTED', async () => {
    const { address } = await serve();
    const calc = client([address]);
    const big = 3 * 1024 * 1024;
    const lengths: number[] = [];
    for await (const chunk of calc.echo(chunks(2, big, state()))) lengths.push(chunk.data.length);
    assert.deepEqual(lengths, [big, big]);
    await assert.rejects(
      (async () => {
        for await (const _ of calc.echo(chunks(1, 5 * 1024 * 1024, state()))) {
          // nothing comes back
        }
      })(),
      (err: unknown) => err instanceof GrpcStatusError && err.status === Status.RESOURCE_EXHAUSTED,
    );
  });

  it('retries a request stream refused before anything was read; never one already read from', async () => {
    const refused = '127.0.0.1:1';
    const { address } = await serve();
    const calc = client([refused, address], { picker: roundRobin(), policies: { breaker: false } });
    // Connection refused on one endpoint: nothing was read, so the same iterable goes to the other.
    for (let i = 0; i < 4; i++) {
      const source = state();
      const total = await calc.sum(numbers(range(10), source));
      assert.equal(total.sum, 55n);
      assert.equal(source.pulled, 10);
    }
    // UNAVAILABLE after messages were read: even an idempotent method is not sent again.
    let calls = 0;
    const { address: failing } = await serve({
      async sum(requests) {
        calls++;
        for await (const _ of requests) break;
        throw new GrpcStatusError(Status.UNAVAILABLE, 'going away');
      },
    });
    const strict = client([failing], { idempotentMethods: ['sum'] });
    await assert.rejects(
      strict.sum(numbers(range(10), state())),
      (err: unknown) => err instanceof GrpcStatusError && err.status === Status.UNAVAILABLE,
    );
    assert.equal(calls, 1);
  });

  it('rejects a request stream that is not an async iterable, naming it', async () => {
    const { address } = await serve();
    const calc = client([address]);
    await assert.rejects(calc.sum([{ value: 1n }] as never), /sum\(requests\)/);
    assert.throws(() => calc.echo(undefined as never), /echo\(requests\)/);
  });
});
