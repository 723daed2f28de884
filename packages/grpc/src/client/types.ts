import type { DescMethod, Message } from '@bufbuild/protobuf';
import type { Metadata } from '@meshkit/core';
import type { ReceivedMetadata } from '../wire/metadata.ts';

/**
 * One gRPC call as the client pipeline carries it: the method, the request message (or, for a client- or
 * bidi-streaming method, the request messages), call metadata.
 */
export interface GrpcRequest {
  /** The generated method descriptor (`UserService.method.getUser`). */
  readonly method: DescMethod;
  /** The request message, of the method's input type: unary and server-streaming methods. */
  readonly message?: Message;
  /**
   * The request messages of a client- or bidi-streaming method, read only as fast as the stream can send
   * them (HTTP/2 flow control); sending ends (half-close) when the iterable ends. Read once: such a call
   * is retried only when it was refused before any message was read.
   */
  readonly messages?: AsyncIterable<Message>;
  /** Metadata for this call, over the context's (`traceparent`, request id). */
  readonly metadata?: Metadata;
}

/** A unary or client-streaming call's answer. */
export interface GrpcUnaryResponse {
  readonly kind: 'unary';
  /** The response message, of the method's output type. */
  readonly message: Message;
  /** Response headers' metadata. */
  readonly header: ReceivedMetadata;
  /** Trailers' metadata. */
  readonly trailer: ReceivedMetadata;
}

/**
 * A server or bidi stream, once its response headers arrived. Read `messages` to the end (or break out of
 * the loop, which cancels the stream on the server). The call is complete when reading ends.
 */
export interface GrpcStreamResponse {
  /** `'server-stream'`, or `'bidi'` when the requests stream too. */
  readonly kind: 'server-stream' | 'bidi';
  /** The messages, as they arrive; throws the call's status error after the last one. */
  readonly messages: AsyncIterable<Message>;
  /** Response headers' metadata. */
  readonly header: ReceivedMetadata;
  /** Trailers' metadata, once the stream ended with `OK`; rejects with the status error otherwise. */
  readonly trailer: Promise<ReceivedMetadata>;
}

/** What the gRPC transport answers. */
export type GrpcResponse = GrpcUnaryResponse | GrpcStreamResponse;
