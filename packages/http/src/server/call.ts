import type { IncomingMessage } from 'node:http';
import type { Service } from '@meshkit/core';
import type { StoredResponse } from './idempotency.ts';

/**
 * What every server layer may read of an incoming call, whatever the transport: enough for the drain and
 * deadline layers, which an HTTP and a gRPC server share. Names of headers or metadata are lower-case.
 */
export interface IncomingCall {
  /** Request headers (HTTP) or metadata (gRPC), lower-case names. */
  readonly metadata: Readonly<Record<string, string | readonly string[] | undefined>>;
  /**
   * The time the caller granted, in ms, as the adapter read it from its transport's header
   * (`x-meshkit-timeout-ms`, `grpc-timeout`): `undefined` without one, `null` when malformed.
   */
  readonly timeoutMs: number | undefined | null;
}

/** An incoming HTTP request as the kit's layers see it, before the handler gets a {@link ServerRequest}. */
export interface HttpCall extends IncomingCall {
  readonly method: string;
  /** The request target: path and query string. */
  readonly target: string;
  /** The path without the query string. */
  readonly path: string;
  /**
   * Reads the body (once; later calls return the same bytes), refusing more than the configured
   * limit with a 413 {@link HttpProblem}.
   */
  body(): Promise<Buffer>;
  /** The underlying `node:http` request (Fastify's `request.raw`), for what the kit does not cover. */
  readonly raw: IncomingMessage;
}

/** A response as the kit's layers see it: status, headers and the encoded body. */
export interface HttpReply extends StoredResponse {
  /** `true` when the handler streamed its body: `body` is empty and nothing may store the response. */
  readonly streamed?: boolean;
}

/** The service a server's layers wrap: the handler, adapted by the node kit or the Fastify plugin. */
export type HttpCallService = Service<HttpCall, HttpReply>;

/** The first value of a header or metadata entry. */
export function firstValue(metadata: IncomingCall['metadata'], name: string): string | undefined {
  const value = metadata[name];
  return typeof value === 'string' ? value : value?.[0];
}
