import type { Readable } from 'node:stream';

/** The HTTP methods the client sends. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | 'TRACE';

/** Methods whose repetition is harmless by definition (RFC 9110 §9.2.2). */
export const idempotentMethods: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'PUT',
  'DELETE',
  'OPTIONS',
  'TRACE',
]);

/** A request body: bytes and strings can be replayed on retry, a stream cannot. */
export type HttpBody = string | Uint8Array | Readable;

/**
 * One HTTP request as it flows through the client's layers. The endpoint is not part of it: the
 * balancer chooses one and records it in the context.
 */
export interface HttpRequest {
  readonly method: HttpMethod;
  /** Path and query, starting with `/`. */
  readonly path: string;
  /**
   * The route template the path was made from (`/users/:id`), for metrics and traces, which never see
   * the raw path. Optional.
   */
  readonly route?: string;
  /** Lower-case header names. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: HttpBody | undefined;
  /**
   * Read the whole response body inside the attempt, into {@link HttpResponse.text}: the attempt's
   * timeout then covers the download, and a connection that breaks mid-body is a failed (retryable)
   * attempt rather than an error after the call returned. The client's typed methods set it.
   */
  readonly buffer?: boolean;
}

/** Response headers as undici reports them (lower-case names). */
export type HttpHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** A response body: a readable stream with undici's convenience readers. */
export interface HttpResponseBody extends Readable {
  json(): Promise<unknown>;
  text(): Promise<string>;
  arrayBuffer(): Promise<ArrayBuffer>;
  /** Reads and discards the rest of the body, freeing the connection. */
  dump(): Promise<void>;
}

/**
 * A successful (2xx/3xx) response: with a `body` stream, or, when the request asked for `buffer`, with
 * the whole body in `text` and no stream.
 */
export interface HttpResponse {
  readonly status: number;
  readonly headers: HttpHeaders;
  /** The body as a stream: read it (`json()`, `text()`) or `dump()` it, or the connection stays busy. */
  readonly body?: HttpResponseBody;
  /** The whole body, decoded as UTF-8, for a `buffer` request. */
  readonly text?: string;
}

/** A response whose body is a stream (a request without `buffer`). */
export interface StreamingHttpResponse extends HttpResponse {
  readonly body: HttpResponseBody;
}
