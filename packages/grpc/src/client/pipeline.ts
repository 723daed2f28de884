import { type CallObservation, type ClientStack, clientStack } from '@meshkit/client';
import {
  type CallContext,
  type Clock,
  type EndpointInit,
  InvalidArgumentError,
  inheritCancelsPromptly,
  type Layer,
  type Service,
} from '@meshkit/core';
import { checkNumber, checkString } from '@meshkit/core/internal';
import { endpointSets } from '@meshkit/discovery';
import { deadline, timeout } from '@meshkit/policies';
import type { GrpcClientOptions } from './options.ts';
import { type GrpcTransportOptions, grpcTransport } from './transport.ts';
import type { GrpcRequest, GrpcResponse } from './types.ts';

/** The composed service a client sends its calls through, and its controls. */
export type GrpcPipeline = ClientStack<GrpcRequest, GrpcResponse>;

/**
 * The client pipeline over gRPC transports: `clientStack()` from `@meshkit/client`, the one HTTP uses —
 * overall deadline → (hedge) → retry with budget → balancer → per endpoint: breaker, bulkhead, attempt
 * timeout → transport. A streamed result holds every layer until its stream is over, so the deadline and
 * the attempt timeout apply to unary calls only (a server stream may be a subscription that lasts for
 * hours; it keeps the caller's own deadline, which the transport enforces): both are given here as
 * layers that let other call kinds through, with the stack's own turned off.
 */
export function grpcPipeline(
  options: GrpcClientOptions,
  service: string,
  clock: Clock,
  transportOptions: GrpcTransportOptions,
): GrpcPipeline {
  const policies = options.policies ?? {};
  const outer: Layer<GrpcRequest, GrpcResponse>[] = [...(options.layers ?? [])];
  if (policies.deadlineMs !== false) {
    const timeoutMs = checkNumber('grpcClient.policies.deadlineMs', policies.deadlineMs ?? 10_000, 1);
    outer.push(unaryOnly(deadline<GrpcRequest, GrpcResponse>({ timeoutMs })));
  }
  const attemptTimeout =
    policies.attemptTimeoutMs === false
      ? undefined
      : unaryOnly(
          timeout<GrpcRequest, GrpcResponse>({
            timeoutMs: checkNumber(
              'grpcClient.policies.attemptTimeoutMs',
              policies.attemptTimeoutMs ?? 3_000,
              1,
            ),
          }),
        );
  return clientStack<GrpcRequest, GrpcResponse>({
    service,
    endpoints: endpointsFrom(options, service),
    observation: grpcObservation,
    connect: (endpoint, hints) => {
      const transport = grpcTransport(
        endpoint.address,
        hints.connectTimeoutMs === undefined
          ? transportOptions
          : { ...transportOptions, connectTimeoutMs: hints.connectTimeoutMs },
      );
      const timed = attemptTimeout === undefined ? transport : attemptTimeout.wrap(transport);
      return Object.assign(
        inheritCancelsPromptly(transport, (req: GrpcRequest, ctx: CallContext) => timed(req, ctx)),
        {
          close: () => transport.close(),
        },
      );
    },
    policies: {
      deadlineMs: false,
      attemptTimeoutMs: false,
      ...(policies.retry === undefined ? {} : { retry: policies.retry }),
      // The stack's hedge slot: idempotent unary calls only, spending from the same budget as retries.
      ...(policies.hedge === undefined ? {} : { hedge: policies.hedge }),
      ...(policies.budget === undefined ? {} : { budget: policies.budget }),
      ...(policies.breaker === undefined ? {} : { breaker: policies.breaker }),
      ...(policies.bulkhead === undefined ? {} : { bulkhead: policies.bulkhead }),
    },
    layers: outer,
    ...(options.route === undefined ? {} : { route: options.route }),
    ...(options.picker === undefined && options.balance === undefined
      ? {}
      : {
          balance: {
            ...options.balance,
            ...(options.picker === undefined ? {} : { picker: options.picker }),
          },
        }),
    transportCancelsPromptly: true,
    clock,
    optionsName: 'grpcClient',
  });
}

/** `layer` for unary calls; every other call kind goes straight to the service below. */
function unaryOnly(layer: Layer<GrpcRequest, GrpcResponse>): Layer<GrpcRequest, GrpcResponse> {
  return {
    name: layer.name,
    wrap(next: Service<GrpcRequest, GrpcResponse>) {
      const wrapped = layer.wrap(next);
      return inheritCancelsPromptly(next, (req: GrpcRequest, ctx: CallContext) =>
        ctx.kind === 'unary' ? wrapped(req, ctx) : next(req, ctx),
      );
    },
    ...(layer.describe === undefined ? {} : { describe: () => layer.describe!() }),
  };
}

function endpointsFrom(
  options: GrpcClientOptions,
  service: string,
): readonly EndpointInit[] | AsyncIterable<readonly EndpointInit[]> {
  if (options.registry !== undefined && options.endpoints !== undefined) {
    throw new InvalidArgumentError('grpcClient.endpoints', 'cannot be combined with registry');
  }
  if (options.registry !== undefined) return endpointSets(options.registry, service, { protocol: 'grpc' });
  const list = options.endpoints;
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError(
      'grpcClient.endpoints',
      'must be a non-empty array (or give a registry)',
      list,
    );
  }
  // Each address is checked here, so a typo fails at construction naming the entry rather than every call
  // failing to connect.
  return list.map((e, i) => {
    const field = `grpcClient.endpoints[${i}]`;
    const init = typeof e === 'string' ? { id: e, address: checkString(field, e) } : e;
    checkHostPort(field, checkString(`${field}.address`, init?.address));
    return init;
  });
}

/** `host:port` with a port in 1-65535 (`[v6]:port` for IPv6), and nothing else. */
function checkHostPort(field: string, address: string): void {
  let url: URL | undefined;
  try {
    url = new URL(`http://${address}`);
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    url.hostname === '' ||
    url.port === '' ||
    `${url.host}` !== address.toLowerCase()
  ) {
    throw new InvalidArgumentError(field, 'must be host:port (a port in 1-65535)', address);
  }
}

/** How the gRPC client describes its calls to observers: `package.Service/Method`, also its route. */
const grpcObservation: CallObservation<GrpcRequest> = {
  protocol: 'grpc',
  describe: (req) => {
    const name = `${req.method.parent.typeName}/${req.method.name}`;
    return { method: name, route: `/${name}` };
  },
};
