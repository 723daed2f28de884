// Our server's client- and bidi-streaming handlers against a stock @grpc/grpc-js + proto-loader client:
// no meshkit code on the client side.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GrpcStatusError } from '../errors.ts';
import { StreamingService } from '../gen/meshkit/testing/v1/streaming_pb.ts';
import { stockStreaming } from '../test-support/stock.ts';
import { until } from '../test-support/streaming.ts';
import { Status } from '../wire/status.ts';
import { type GrpcServer, grpcServer } from './server.ts';

interface Chunk {
  text: string;
  data: Buffer;
}
type StockStreamingClient = grpc.Client & {
  sum(
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, res?: { sum: string; count: string }) => void,
  ): grpc.ClientWritableStream<{ value: string }>;
  echo(metadata: grpc.Metadata, options: grpc.CallOptions): grpc.ClientDuplexStream<Chunk, Chunk>;
};

describe('grpcServer client and bidi streaming with a stock grpc-js client', () => {
  const seen = { metadata: '' as unknown, endedBy: [] as string[] };
  let server: GrpcServer;
  let client: StockStreamingClient;

  before(async () => {
    server = grpcServer().add(StreamingService, {
      async sum(requests, call) {
        seen.metadata = call.metadata['x-tenant'];
        call.sendHeader({ 'x-seen': 'yes' });
        let sum = 0n;
        let count = 0n;
        for await (const n of requests) {
          if (n.value < 0n) {
            call.setTrailer({ 'x-bad-value': String(n.value) });
            throw new GrpcStatusError(Status.INVALID_ARGUMENT, `negative number ${n.value}`);
          }
          sum += n.value;
          count++;
        }
        call.setTrailer({ 'x-count': String(count) });
        return { sum, count };
      },
      async *echo(requests, call) {
        let hold = false;
        try {
          for await (const chunk of requests) {
            hold ||= chunk.text === 'hold';
            yield chunk;
          }
          // 'hold': keep the call open past the client's half-close, like a subscription, until the
          // client cancels or the deadline passes. grpc-js cancels with Node's stream.close(), which
          // half-closes before it resets: the handler may see its requests end first, then the cancel.
          if (hold) await new Promise<void>((resolve) => call.ctx.onAbort(() => resolve()));
          if (call.ctx.aborted) seen.endedBy.push('aborted');
          yield { text: 'done' };
        } catch (error) {
          // A cancelled or expired call ends the request stream with its reason.
          seen.endedBy.push(call.ctx.aborted ? 'aborted' : String(error));
          throw error;
        }
      },
    });
    const { address } = await server.listen();
    const Stock = stockStreaming();
    client = new Stock(address, grpc.credentials.createInsecure()) as unknown as StockStreamingClient;
  });
  after(async () => {
    client.close();
    await server.close();
  });

  /** Sends `values` on a stock client stream; resolves with the response, headers and trailers. */
  function sum(values: number[], metadata = new grpc.Metadata()) {
    return new Promise<{
      res?: { sum: string; count: string };
      headers?: grpc.Metadata;
      status: grpc.StatusObject;
    }>((resolve) => {
      let res: { sum: string; count: string } | undefined;
      let headers: grpc.Metadata | undefined;
      const call = client.sum(metadata, {}, (_err, r) => {
        res = r;
      });
      call.on('metadata', (md) => {
        headers = md;
      });
      call.on('status', (status) => setImmediate(() => resolve({ res, headers, status })));
      for (const value of values) call.write({ value: String(value) });
      call.end();
    });
  }

  it('sums a client stream; header, trailers and request metadata cross', async () => {
    const md = new grpc.Metadata();
    md.set('x-tenant', 't-1');
    const { res, headers, status } = await sum([1, 2, 3, 4], md);
    assert.deepEqual(res, { sum: '10', count: '4' });
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(headers?.get('x-seen'), ['yes']);
    assert.deepEqual(status.metadata.get('x-count'), ['4']);
    assert.equal(seen.metadata, 't-1');
  });

  it('answers a client stream with the handler status and its trailers', async () => {
    const { res, status } = await sum([1, -2, 3]);
    assert.equal(res, undefined);
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(status.details, 'negative number -2');
    assert.deepEqual(status.metadata.get('x-bad-value'), ['-2']);
  });

  it('echoes a bidi stream message by message, then answers the half-close', async () => {
    const call = client.echo(new grpc.Metadata(), {});
    const received: string[] = [];
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('data', (chunk: Chunk) => received.push(chunk.text));
    for (const text of ['a', 'b', 'c']) {
      call.write({ text, data: Buffer.from(text) });
      // Each message is answered before the next is sent: the server streams as it reads.
      await until(() => received.includes(text));
    }
    call.end();
    assert.equal((await ended).code, grpc.status.OK);
    assert.deepEqual(received, ['a', 'b', 'c', 'done']);
  });

  it('a client cancel mid-stream reaches the handler as its context aborted', async () => {
    const call = client.echo(new grpc.Metadata(), {});
    const received: string[] = [];
    call.on('data', (chunk: Chunk) => received.push(chunk.text));
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => {});
    call.write({ text: 'hold', data: Buffer.alloc(0) });
    await until(() => received.length === 1);
    const before = seen.endedBy.length;
    call.cancel();
    assert.equal((await ended).code, grpc.status.CANCELLED);
    await until(() => seen.endedBy.length === before + 1);
    assert.equal(seen.endedBy.at(-1), 'aborted');
    await until(() => server.inFlight === 0);
  });

  it('ends a bidi stream at the client deadline with DEADLINE_EXCEEDED; the handler is cancelled', async () => {
    const call = client.echo(new grpc.Metadata(), { deadline: new Date(Date.now() + 300) });
    call.on('error', () => {});
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    const before = seen.endedBy.length;
    call.write({ text: 'hold', data: Buffer.alloc(0) });
    // Never half-closed: only the deadline ends it.
    assert.equal((await ended).code, grpc.status.DEADLINE_EXCEEDED);
    await until(() => seen.endedBy.length === before + 1);
    assert.equal(seen.endedBy.at(-1), 'aborted');
    await until(() => server.inFlight === 0);
  });
});
