import { randomUUID } from 'node:crypto';
import { clientStack } from '@meshkit/client';
import {
  type CallContext,
  createContext,
  type EndpointInit,
  InvalidArgumentError,
  type Service,
  systemClock,
} from '@meshkit/core';
import { checkNumber, checkString } from '@meshkit/core/internal';
import { endpointSets } from '@meshkit/discovery';
import type { StandardSchema } from '../schema.ts';
import { httpTransport, originOf, resolveTransportOptions } from '../transport.ts';
import {
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
  idempotentMethods,
  type StreamingHttpResponse,
} from '../types.ts';
import { wireHeaders } from '../wire.ts';
import { decodeBody, encodeBody } from './body.ts';
import { httpObservation } from './observation.ts';
import type { HttpClientOptions } from './options.ts';

/** Per-call options of the client's methods. */
export interface CallOptions<T = unknown> {
  /** Query parameters; `undefined` values are left out. */
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** Headers for this call (lower-case names), over the client's defaults. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Validates the decoded response (zod, valibot, any Standard Schema); failures are `ERR_INVALID_PAYLOAD`. */
  readonly schema?: StandardSchema<T>;
  /**
   * The caller's context, e.g. the one a server handler received: its deadline, cancellation and trace
   * headers carry over to this call.
   */
  readonly ctx?: CallContext;
  /**
   * The route template `path` was made from (`/users/:id`): metrics and traces label the call with it,
   * never with the raw path. Defaults to none.
   */
  readonly route?: string;
  /** Cancels the call (used when no `ctx` is given). */
  readonly signal?: AbortSignal;
  /** A deadline for this call, in ms; can only shorten the context's and the policy's. */
  readonly timeoutMs?: number;
  /**
   * The `Idempotency-Key` for this logical call: a string, `true` for a fresh random one, `false` for
   * none (even with `autoIdempotencyKey`). Every attempt sends the same key.
   */
  readonly idempotencyKey?: string | boolean;
}

/** A request for {@link HttpClient.request}. */
export interface ClientRequest {
  readonly method: HttpMethod;
  readonly path: string;
  /** JSON-encoded unless a string, bytes or a stream. */
  readonly body?: unknown;
}

/** A resilient client for one downstream service. */
export interface HttpClient {
  get<T = unknown>(path: string, options?: CallOptions<T>): Promise<T>;
  delete<T = unknown>(path: string, options?: CallOptions<T>): Promise<T>;
  post<T = unknown>(path: string, body?: unknown, options?: CallOptions<T>): Promise<T>;
  put<T = unknown>(path: string, body?: unknown, options?: CallOptions<T>): Promise<T>;
  patch<T = unknown>(path: string, body?: unknown, options?: CallOptions<T>): Promise<T>;
  /** Any method; resolves with the streaming response (read or dump its body). */
  request(req: ClientRequest, options?: CallOptions): Promise<StreamingHttpResponse>;
  /** The composed service (policies, balancer, transports), for wrapping in more layers. */
  readonly service: Service<HttpRequest, HttpResponse>;
  /** Live state: layers, budget, endpoints, breakers. */
  describe(): Record<string, unknown>;
  /** Stops following discovery and closes every connection pool. */
  close(): Promise<void>;
}

/**
 * A resilient REST client over undici: discovery (a registry or a fixed list), client-side balancing
 * (P2C + peak EWMA, outlier detection), an overall deadline, retries with a budget, a circuit breaker per
 * endpoint and a per-attempt timeout. JSON by default.
 *
 * Retries are method-aware: GET, HEAD, PUT, DELETE, OPTIONS and TRACE retry freely; POST and PATCH only
 * with an `Idempotency-Key` (the same on every attempt) or when the request provably never reached the
 * server. `Retry-After` is honoured, capped by `retry.maxDelayMs`.
 *
 * @example
 * ```ts
 * import { embeddedRegistry } from '@meshkit/discovery';
 * import { z } from 'zod';
 * const registry = embeddedRegistry({ path: '.meshkit/registry.db' });
 * const User = z.object({ id: z.number(), name: z.string() });
 * const users = httpClient({ service: 'users', registry, autoIdempotencyKey: true });
 * const user = await users.get('/users/42', { schema: User });
 * await users.post('/users', { name: 'Ada' });   // retried safely: it carries an Idempotency-Key
 * ```
 */
export function httpClient(options: HttpClientOptions): HttpClient {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('httpClient', 'options must be an object', options);
  }
  const service = checkString('httpClient.service', options.service);
  const clock = options.clock ?? systemClock;
  const transport = resolveTransportOptions(
    { ...options.transport, ...(options.tls === undefined ? {} : { tls: options.tls }) },
    'httpClient.transport',
  );
  const autoKey = options.autoIdempotencyKey ?? false;
  const defaultHeaders = lowerCase(options.headers ?? {});
  // A root context holds no per-call state (no deadline, no signal; it is immutable and every layer
  // derives from it), so calls without a caller's context or signal share one.
  const sharedRoot = createContext({ clock });

  const pipeline = clientStack<HttpRequest, HttpResponse>({
    service,
    endpoints: endpointsFrom(options, service),
    observation: httpObservation,
    connect: (endpoint, hints) =>
      httpTransport(
        endpoint.address,
        hints.connectTimeoutMs === undefined
          ? transport
          : { ...transport, connectTimeoutMs: hints.connectTimeoutMs },
      ),
    policies: options.policies ?? {},
    ...(options.layers === undefined ? {} : { layers: options.layers }),
    ...(options.route === undefined ? {} : { route: options.route }),
    balance: {
      ...(options.picker === undefined ? {} : { picker: options.picker }),
      ...options.balance,
    },
    // Every undici transport aborts its request on cancellation, and the pipeline's layers keep that:
    // the deadline and retry above need no promise of their own.
    transportCancelsPromptly: true,
    clock,
    optionsName: 'httpClient',
  });
  const composed = pipeline.service;

  const send = (
    method: HttpMethod,
    path: string,
    body: unknown,
    callOptions: CallOptions<unknown> | undefined,
    buffer: boolean,
  ): Promise<HttpResponse> => {
    try {
      return prepareAndSend(method, path, body, callOptions, buffer);
    } catch (error) {
      // Bad arguments reject like any other failure, never throw synchronously.
      return Promise.reject(error);
    }
  };
  const prepareAndSend = (
    method: HttpMethod,
    path: string,
    body: unknown,
    callOptions: CallOptions<unknown> | undefined,
    buffer: boolean,
  ): Promise<HttpResponse> => {
    // Without a body or call headers nothing writes to the headers: the defaults are shared, not
    // copied (the transport builds its own header object per attempt).
    const headers: Record<string, string> =
      callOptions?.headers === undefined
        ? body === undefined
          ? defaultHeaders
          : { ...defaultHeaders }
        : { ...defaultHeaders, ...lowerCase(callOptions.headers) };
    const encoded = encodeBody(body, headers);
    const signal = callOptions?.signal;
    let ctx = callOptions?.ctx ?? (signal === undefined ? sharedRoot : createContext({ clock, signal }));
    if (callOptions?.timeoutMs !== undefined) {
      ctx = ctx.withTimeout(checkNumber('timeoutMs', callOptions.timeoutMs, 0));
    }
    const requested = callOptions?.idempotencyKey;
    const key =
      typeof requested === 'string'
        ? checkIdempotencyKey(requested)
        : requested === true || (requested === undefined && autoKey && !idempotentMethods.has(method))
          ? randomUUID()
          : headers[wireHeaders.idempotencyKey];
    const idempotent = idempotentMethods.has(method);
    if (!encoded.replayable) {
      // A streamed request body: the retry policy's `canReplay` sends it again only after a refusal
      // before sending, and a hedge passes it straight through.
      ctx = ctx.with({ idempotent, idempotencyKey: key, kind: 'client-stream' });
    } else if (!idempotent || key !== undefined) {
      ctx = ctx.with({ idempotent, idempotencyKey: key });
    }
    const req: HttpRequest = {
      method,
      path: withQuery(path, callOptions?.query),
      headers,
      body: encoded.body,
      buffer,
      ...(callOptions?.route === undefined ? {} : { route: callOptions.route }),
    };
    return composed(req, ctx);
  };
  const call = <T>(
    method: HttpMethod,
    path: string,
    body: unknown,
    o: CallOptions<T> | undefined,
  ): Promise<T> => {
    const schema = o?.schema;
    const sent = send(method, path, body, o, true);
    // Without a schema (the common case) a shared function decodes: no closure per call.
    return schema === undefined
      ? (sent.then(decodeUnchecked) as Promise<T>)
      : sent.then((response) => decodeBody(response, schema));
  };

  return {
    get: (path, o) => call('GET', path, undefined, o),
    delete: (path, o) => call('DELETE', path, undefined, o),
    post: (path, body, o) => call('POST', path, body, o),
    put: (path, body, o) => call('PUT', path, body, o),
    patch: (path, body, o) => call('PATCH', path, body, o),
    request: (req, o) => send(req.method, req.path, req.body, o, false) as Promise<StreamingHttpResponse>,
    service: composed,
    describe: () => pipeline.describe(),
    close: () => pipeline.close(),
  };
}

function decodeUnchecked(response: HttpResponse): unknown {
  return decodeBody(response, undefined);
}

function endpointsFrom(
  options: HttpClientOptions,
  service: string,
): readonly EndpointInit[] | AsyncIterable<readonly EndpointInit[]> {
  if (options.registry !== undefined && options.endpoints !== undefined) {
    throw new InvalidArgumentError('httpClient.endpoints', 'cannot be combined with registry');
  }
  if (options.registry !== undefined) return endpointSets(options.registry, service, { protocol: 'http' });
  const list = options.endpoints;
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError(
      'httpClient.endpoints',
      'must be a non-empty array (or give a registry)',
      list,
    );
  }
  // Each address is checked here, so a typo fails at construction naming the entry rather than every call
  // failing with "no endpoint".
  const secure = options.tls !== undefined;
  return list.map((e, i) => {
    const field = `httpClient.endpoints[${i}]`;
    const init = typeof e === 'string' ? { id: e, address: checkString(field, e) } : e;
    originOf(checkString(`${field}.address`, init?.address), secure, field);
    return init;
  });
}

function withQuery(path: string, query: CallOptions['query']): string {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new InvalidArgumentError('path', "must start with '/'", path);
  }
  if (query === undefined) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query))
    if (value !== undefined) params.append(name, String(value));
  const text = params.toString();
  if (text === '') return path;
  return `${path}${path.includes('?') ? '&' : '?'}${text}`;
}

function checkIdempotencyKey(key: string): string {
  if (key.length === 0 || key.length > 255) {
    throw new InvalidArgumentError('idempotencyKey', 'must have 1 to 255 characters', key);
  }
  return key;
}

function lowerCase(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}
