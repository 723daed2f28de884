import type { Message } from '@bufbuild/protobuf';
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescMethodBiDiStreaming,
  type DescMethodClientStreaming,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from '@bufbuild/protobuf';
import { MethodOptions_IdempotencyLevel } from '@bufbuild/protobuf/wkt';
import type { Metadata } from '@meshkit/core';
import {
  type CallContext,
  type CallKind,
  createContext,
  InvalidArgumentError,
  type Service,
  systemClock,
} from '@meshkit/core';
import { checkNumber, checkString } from '@meshkit/core/internal';
import type { GrpcClientOptions } from './options.ts';
import { grpcPipeline } from './pipeline.ts';
import type { GrpcTransportOptions } from './transport.ts';
import type { GrpcRequest, GrpcResponse, GrpcStreamResponse, GrpcUnaryResponse } from './types.ts';

export type { GrpcClientOptions, GrpcPolicyOptions } from './options.ts';

/** Per-call options. */
export interface GrpcCallOptions {
  /** The caller's context (e.g. a server handler's `call.ctx`): its deadline, cancellation and metadata carry over. */
  readonly ctx?: CallContext;
  /** Cancels the call (used when no `ctx` is given). */
  readonly signal?: AbortSignal;
  /** A deadline for this call in ms; can only shorten the context's and the policy's. */
  readonly timeoutMs?: number;
  /** Metadata for this call, over the client's. */
  readonly metadata?: Metadata;
}

/** A typed method of a {@link GrpcClient}. */
export type GrpcClientMethod<M> =
  M extends DescMethodUnary<infer I, infer O>
    ? (request: MessageInitShape<I>, options?: GrpcCallOptions) => Promise<MessageShape<O>>
    : M extends DescMethodServerStreaming<infer I, infer O>
      ? (request: MessageInitShape<I>, options?: GrpcCallOptions) => AsyncIterable<MessageShape<O>>
      : M extends DescMethodClientStreaming<infer I, infer O>
        ? (
            requests: AsyncIterable<MessageInitShape<I>>,
            options?: GrpcCallOptions,
          ) => Promise<MessageShape<O>>
        : M extends DescMethodBiDiStreaming<infer I, infer O>
          ? (
              requests: AsyncIterable<MessageInitShape<I>>,
              options?: GrpcCallOptions,
            ) => AsyncIterable<MessageShape<O>>
          : never;

/** The typed client of a generated service: one method per rpc, of any of the four kinds, plus controls. */
export type GrpcClient<S extends DescService> = {
  readonly [K in keyof S['method']]: GrpcClientMethod<S['method'][K]>;
} & {
  /** The composed unary pipeline (policies, balancer, transports), for wrapping in more layers. */
  readonly $service: Service<GrpcRequest, GrpcResponse>;
  /** Live state: layers, budget, endpoints, breakers. */
  $describe(): Record<string, unknown>;
  /** Stops following discovery and closes every connection. */
  $close(): Promise<void>;
};

/**
 * The caller's request messages (init shapes) as messages of `schema`, read one at a time as the
 * transport asks. Each iteration starts a new pass over `requests`.
 */
function messagesOf(schema: DescMessage, requests: AsyncIterable<unknown>): AsyncIterable<Message> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Message> {
      const source = requests[Symbol.asyncIterator]();
      return {
        next: async () => {
          const next = await source.next();
          if (next.done === true) return { done: true, value: undefined };
          return { done: false, value: create(schema, next.value as MessageInitShape<DescMessage>) };
        },
        return: async () => {
          await source.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/**
 * A resilient gRPC client for one downstream service, on the same policy model as the HTTP client:
 * discovery (a registry or a fixed list), client-side balancing (P2C + peak EWMA), an overall deadline
 * sent as `grpc-timeout`, retries with a budget that only repeat what is safe, a circuit breaker per
 * endpoint and a per-attempt timeout, over meshkit's lean `node:http2` transport.
 *
 * Unary methods return the response message; server-streaming methods return an async iterable of
 * messages (breaking out of the loop cancels the call on the server). A non-OK status rejects with a
 * `GrpcStatusError` whose `status` the caller branches on.
 *
 * @example
 * ```ts
 * import type { Registry } from '@meshkit/discovery';
 * declare const registry: Registry;
 *
 * const users = grpcClient(UserService, { service: 'users', registry });
 * const ada = await users.getUser({ id: '42' }, { timeoutMs: 500 });
 * for await (const event of users.streamUserEvents({ userId: '42' })) console.log(event.type);
 * ```
 */
export function grpcClient<S extends DescService>(definition: S, options: GrpcClientOptions): GrpcClient<S> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('grpcClient', 'options must be an object', options);
  }
  const service = checkString('grpcClient.service', options.service);
  const clock = options.clock ?? systemClock;
  const idempotentNames = new Set(options.idempotentMethods ?? []);
  for (const name of idempotentNames) {
    if (definition.method[name] === undefined) {
      throw new InvalidArgumentError(
        'grpcClient.idempotentMethods',
        `names no method of ${definition.typeName}`,
        name,
      );
    }
  }
  const transportOptions: GrpcTransportOptions = {
    ...options.transport,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  };
  const defaultMetadata = options.metadata;
  const sharedRoot = createContext({ clock });

  const pipeline = grpcPipeline(options, service, clock, transportOptions);
  const call = pipeline.service;

  const contextFor = (method: DescMethod, callOptions: GrpcCallOptions | undefined): CallContext => {
    const signal = callOptions?.signal;
    let ctx = callOptions?.ctx ?? (signal === undefined ? sharedRoot : createContext({ clock, signal }));
    if (callOptions?.timeoutMs !== undefined)
      ctx = ctx.withTimeout(checkNumber('timeoutMs', callOptions.timeoutMs, 0));
    const idempotent =
      method.idempotency !== MethodOptions_IdempotencyLevel.IDEMPOTENCY_UNKNOWN ||
      idempotentNames.has(method.localName);
    return ctx.idempotent === idempotent ? ctx : ctx.with({ idempotent });
  };
  const metadataFor = (callOptions: GrpcCallOptions | undefined): { metadata?: Metadata } => {
    const metadata =
      callOptions?.metadata === undefined
        ? defaultMetadata
        : defaultMetadata === undefined
          ? callOptions.metadata
          : { ...defaultMetadata, ...callOptions.metadata };
    return metadata === undefined ? {} : { metadata };
  };
  const requestFor = (
    method: DescMethod,
    init: unknown,
    callOptions: GrpcCallOptions | undefined,
  ): GrpcRequest => {
    const message = create(method.input as DescMessage, init as MessageInitShape<DescMessage>);
    return { method, message, ...metadataFor(callOptions) };
  };
  const streamRequestFor = (
    method: DescMethod,
    requests: unknown,
    callOptions: GrpcCallOptions | undefined,
  ): GrpcRequest => {
    if (
      typeof requests !== 'object' ||
      requests === null ||
      typeof (requests as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function'
    ) {
      throw new InvalidArgumentError(
        `${method.localName}(requests)`,
        'must be an async iterable of request messages',
        requests,
      );
    }
    return {
      method,
      messages: messagesOf(method.input, requests as AsyncIterable<unknown>),
      ...metadataFor(callOptions),
    };
  };
  const streamingContext = (
    method: DescMethod,
    callOptions: GrpcCallOptions | undefined,
    kind: CallKind,
  ): CallContext => contextFor(method, callOptions).with({ kind });

  const methods: Record<string, unknown> = {};
  for (const method of definition.methods) {
    if (method.methodKind === 'unary') {
      methods[method.localName] = (init: unknown, callOptions?: GrpcCallOptions) => {
        try {
          const req = requestFor(method, init, callOptions);
          return call(req, contextFor(method, callOptions)).then((res) => (res as GrpcUnaryResponse).message);
        } catch (error) {
          return Promise.reject(error);
        }
      };
    } else if (method.methodKind === 'server_streaming') {
      methods[method.localName] = (init: unknown, callOptions?: GrpcCallOptions): AsyncIterable<unknown> => ({
        async *[Symbol.asyncIterator]() {
          const req = requestFor(method, init, callOptions);
          const ctx = contextFor(method, callOptions).with({ kind: 'server-stream' });
          const res = (await call(req, ctx)) as GrpcStreamResponse;
          yield* res.messages;
        },
      });
    } else if (method.methodKind === 'client_streaming') {
      methods[method.localName] = (requests: unknown, callOptions?: GrpcCallOptions) => {
        try {
          const req = streamRequestFor(method, requests, callOptions);
          const ctx = streamingContext(method, callOptions, 'client-stream');
          return call(req, ctx).then((res) => (res as GrpcUnaryResponse).message);
        } catch (error) {
          return Promise.reject(error);
        }
      };
    } else {
      methods[method.localName] = (
        requests: unknown,
        callOptions?: GrpcCallOptions,
      ): AsyncIterable<unknown> => {
        // Checked at once, as nice-grpc does; the call starts when iteration does.
        const req = streamRequestFor(method, requests, callOptions);
        return {
          async *[Symbol.asyncIterator]() {
            const res = (await call(
              req,
              streamingContext(method, callOptions, 'bidi'),
            )) as GrpcStreamResponse;
            yield* res.messages;
          },
        };
      };
    }
  }
  return Object.assign(methods, {
    $service: call,
    $describe: () => pipeline.describe(),
    $close: () => pipeline.close(),
  }) as unknown as GrpcClient<S>;
}
