import type {
  DescMessage,
  DescMethodBiDiStreaming,
  DescMethodClientStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageInitShape,
  MessageShape,
} from '@bufbuild/protobuf';
import type { CallContext, Metadata } from '@meshkit/core';
import type { ReceivedMetadata } from '../wire/metadata.ts';

/** What a handler knows about its call, besides the request message. */
export interface ServerCall {
  /**
   * The call's context: its deadline is the client's `grpc-timeout`, and it is cancelled when the client
   * cancels, the deadline passes or the server's shutdown grace runs out; its metadata holds the
   * request's `traceparent`, `tracestate` and `x-request-id`. Pass it to downstream calls so they inherit
   * all of it.
   */
  readonly ctx: CallContext;
  /** The request metadata (protocol headers left out). */
  readonly metadata: ReceivedMetadata;
  /** The full method path, e.g. `/user.UserService/GetUser`. */
  readonly method: string;
  /** The client's address, `host:port`. */
  readonly peer: string;
  /** Metadata to send in the response headers; takes effect only before the first message. */
  sendHeader(metadata: Metadata): void;
  /** Metadata to send in the trailers, with the status (also when the handler throws). */
  setTrailer(metadata: Metadata): void;
}

/** A unary method: one request, one response (a message or its init shape). */
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  call: ServerCall,
) => Promise<MessageInitShape<O>> | MessageInitShape<O>;

/**
 * A server-streaming method: one request, then the messages of an async iterable. The server writes them
 * as the client's flow-control window allows; while the window is full it stops pulling from the
 * iterable, so a slow reader holds the producer back instead of growing the server's memory.
 */
export type ServerStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  call: ServerCall,
) => AsyncIterable<MessageInitShape<O>>;

/** A client-streaming method: the request messages as they arrive, then one response. */
export type ClientStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  call: ServerCall,
) => Promise<MessageInitShape<O>> | MessageInitShape<O>;

/**
 * A bidi-streaming method: the request messages as they arrive (the stream pauses past 16 unread, so a
 * fast client is held back), and the response messages of the returned iterable, written with flow
 * control.
 */
export type BidiStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  call: ServerCall,
) => AsyncIterable<MessageInitShape<O>>;

/**
 * The implementation of a generated service: one handler per method, keyed by the method's local name
 * (`getUser`), typed by its kind (unary, server-, client- or bidi-streaming). A method that is not
 * ready yet throws `new GrpcStatusError(Status.UNIMPLEMENTED)`.
 *
 * @example
 * ```ts
 * const users: ServiceImpl<typeof UserService> = {
 *   getUser: ({ id }) => ({ id, email: 'ada@example.com', status: UserStatus.ACTIVE }),
 *   createUser: ({ email, name }) => ({ id: '1', email, name, status: UserStatus.ACTIVE }),
 *   listUsers: () => ({ users: [] }),
 *   async *streamUserEvents({ userId }, call) {
 *     while (!call.ctx.aborted) {
 *       yield { userId, type: EventType.UPDATED, timestamp: BigInt(Date.now()) };
 *       await new Promise((resolve) => setTimeout(resolve, 1_000));
 *     }
 *   },
 * };
 * ```
 */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S['method']]: S['method'][K] extends DescMethodUnary<infer I, infer O>
    ? UnaryHandler<I, O>
    : S['method'][K] extends DescMethodServerStreaming<infer I, infer O>
      ? ServerStreamingHandler<I, O>
      : S['method'][K] extends DescMethodClientStreaming<infer I, infer O>
        ? ClientStreamingHandler<I, O>
        : S['method'][K] extends DescMethodBiDiStreaming<infer I, infer O>
          ? BidiStreamingHandler<I, O>
          : never;
};
