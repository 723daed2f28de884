import type { DescMethod, Message } from '@bufbuild/protobuf';
import type { Metadata } from '@meshkit/core';
import type { ReceivedMetadata } from '../wire/metadata.ts';

/** One gRPC call as the client pipeline carries it: the method, the request message, call metadata. */
export interface GrpcRequest {
  /** The generated method descriptor (`UserService.method.getUser`). */
  readonly method: DescMethod;
  /** The request message, of the method's input type. */
  readonly message: Message;
  /** Metadata for this call, over the context's (`traceparent`, request id). */
  readonly metadata?: Metadata;
}

/** A unary call's answer. */
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
 * A server stream, once its response headers arrived. Read `messages` to the end (or break out of the
 * loop, which cancels the stream on the server). The call is complete when reading ends.
 */
export interface GrpcStreamResponse {
  readonly kind: 'server-stream';
  /** The messages, as they arrive; throws the call's status error after the last one. */
  readonly messages: AsyncIterable<Message>;
  /** Response headers' metadata. */
  readonly header: ReceivedMetadata;
  /** Trailers' metadata, once the stream ended with `OK`; rejects with the status error otherwise. */
  readonly trailer: Promise<ReceivedMetadata>;
}

/** What the gRPC transport answers. */
export type GrpcResponse = GrpcUnaryResponse | GrpcStreamResponse;
