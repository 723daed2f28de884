// Client- and bidi-streaming calls from grpcClient() against a stock @grpc/grpc-js server built from the
// same .proto: no meshkit code serves.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ErrorCode, isAbortError } from '@meshkit/core';
import { GrpcStatusError } from '../errors.ts';
import { StreamingService } from '../gen/meshkit/testing/v1/streaming_pb.ts';
import { stockStreaming } from '../test-support/stock.ts';
import { chunks, gate, numbers, range, type SourceState, settled, until } from '../test-support/streaming.ts';
import { Status } from '../wire/status.ts';
import { grpcClient } from './client.ts';

type Chunk = { data: Buffer; text: string };
type Bidi = grpc.ServerDuplexStream<Chunk, Chunk>;
type Reading = grpc.ServerReadableStream<{ value: string }, unknown>;

const state = (): SourceState => ({ pulled: 0, finished: false });

describe('grpcClient client streaming and bidi with a stock grpc-js server', () => {
  const server = new grpc.Server();
  const seen = { cancelled: 0, read: 0 };
  let stalled = gate();
  let client: ReturnType<typeof grpcClient<typeof StreamingService>>;

  before(async () => {
    server.addService(stockStreaming().service, {
      sum(call: Reading, callback: grpc.sendUnaryData<unknown>) {
        let sum = 0n;
        let count = 0;
        let failed = false;
        call.on('data', (n: { value: string }) => {
          if (failed) return;
          if (BigInt(n.value) < 0n) {
            failed = true;
            callback({ code: grpc.status.INVALID_ARGUMENT, details: `negative number ${n.value}` });
            return;
          }
          sum += BigInt(n.value);
          count++;
        });
        call.on('end', () => {
          if (!failed) callback(null, { sum: String(sum), count: String(count) });
        });
      },
      echo(call: Bidi) {
        call.on('cancelled', () => seen.cancelled++);
        call.on('data', (chunk: Chunk) => {
          seen.read++;
          if (chunk.text === 'stall') {
            // Stop reading: grpc-js stops taking data, HTTP/2 flow control holds the client.
            call.pause();
            void stalled.promise.then(() => call.resume());
            return;
          }
          if (chunk.text !== 'silent') call.write(chunk);
        });
        call.on('end', () => {
          call.write({ text: `read ${seen.read}`, data: Buffer.alloc(0) });
          call.end();
        });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    client = grpcClient(StreamingService, { service: 'streaming', endpoints: [`127.0.0.1:${port}`] });
  });

  after(async () => {
    await client.$close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  it('sums a client stream', async () => {
    const source = state();
    const total = await client.sum(numbers(range(500), source));
    assert.equal(total.sum, 125_250n);
    assert.equal(total.count, 500n);
    assert.deepEqual(source, { pulled: 500, finished: true });
  });

  it('echoes a bidi stream, then the server answers the half-close', async () => {
    seen.read = 0;
    const texts: string[] = [];
    for await (const chunk of client.echo(chunks(3, 8, state()))) texts.push(chunk.text);
    assert.deepEqual(texts, ['0', '1', '2', 'read 3']);
  });

  it('fails with the server status when the server errors early, and closes the iterable', async () => {
    const source = state();
    const values = [1, -1, ...Array.from({ length: 200_000 }, () => 1)];
    await assert.rejects(
      client.sum(numbers(values, source)),
      (err: unknown) => err instanceof GrpcStatusError && err.status === Status.INVALID_ARGUMENT,
    );
    await until(() => source.finished);
    assert.ok(source.pulled < values.length, `read ${source.pulled} of ${values.length}`);
  });

  it('cancels mid-stream: the server sees the cancellation', async () => {
    const before = seen.cancelled;
    const controller = new AbortController();
    const more = gate();
    async function* slow() {
      yield { text: 'first' };
      await more.promise;
    }
    await assert.rejects(
      (async () => {
        for await (const _ of client.echo(slow(), { signal: controller.signal })) controller.abort();
      })(),
      (err: unknown) => isAbortError(err),
    );
    more.open();
    await until(() => seen.cancelled > before);
  });

  it('ends at the deadline mid-stream with ERR_DEADLINE_EXCEEDED; the server sees it', async () => {
    const before = seen.cancelled;
    const more = gate();
    async function* slow() {
      yield { text: 'first' };
      await more.promise;
    }
    const texts: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of client.echo(slow(), { timeoutMs: 300 })) texts.push(chunk.text);
      })(),
      (err: unknown) => (err as { code?: string }).code === ErrorCode.DEADLINE_EXCEEDED,
    );
    more.open();
    assert.deepEqual(texts, ['first']);
    await until(() => seen.cancelled > before);
  });

  it('reads the request iterable only as fast as a server that stopped reading lets it', async () => {
    seen.read = 0;
    stalled = gate();
    const source = state();
    const total = 2_000;
    async function* stallFirst() {
      yield { text: 'stall' };
      for await (const chunk of chunks(total, 16 * 1024, source)) yield { ...chunk, text: 'silent' };
    }
    const replies = client.echo(stallFirst())[Symbol.asyncIterator]();
    const last = replies.next();
    await until(() => seen.read === 1);
    const ahead = await settled(() => source.pulled);
    assert.ok(ahead < 200, `read ${ahead} messages of 16 KiB while the server read none`);
    stalled.open();
    assert.equal((await last).value?.text, `read ${total + 1}`);
    assert.equal(source.pulled, total);
    await replies.return?.();
  });

  it('carries messages of several MiB both ways', async () => {
    const big = 3 * 1024 * 1024;
    const lengths: number[] = [];
    for await (const chunk of client.echo(chunks(2, big, state()))) lengths.push(chunk.data.length);
    assert.deepEqual(lengths, [big, big, 0]);
  });
});
