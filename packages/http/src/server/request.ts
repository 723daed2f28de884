import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { issuePath, type StandardSchema } from '../schema.ts';
import { readTimeoutMs } from '../wire.ts';
import type { HttpCall } from './call.ts';
import { HttpProblem } from './problem.ts';

/** The request a kit handler receives: method, path, query, headers and the already-read body. */
export interface ServerRequest {
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** The whole body, read up to the size limit. */
  readonly body: Buffer;
  /** The underlying node:http request, for what the kit does not cover. */
  readonly raw: IncomingMessage;
  /**
   * The body parsed as JSON and, with a schema, validated. Malformed JSON, a wrong content type or a
   * schema failure throws an {@link HttpProblem} (400 `application/problem+json` naming the field).
   */
  json<T = unknown>(schema?: StandardSchema<T>): Promise<T>;
}

/**
 * Reads `req`'s body, refusing more than `maxBytes` with 413 (at once when `content-length` already
 * says so, without reading). A refused upload is left paused, not destroyed, so the 413 can still be
 * sent on the connection; a client that disconnects first rejects the read.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('close', onClose);
      req.removeListener('error', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else {
        done();
        req.pause();
        reject(tooLarge(maxBytes));
      }
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    const onClose = (): void => {
      done();
      reject(new Error('the client closed the connection before sending the whole body'));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
    req.once('error', onClose);
  });
}

function tooLarge(maxBytes: number): HttpProblem {
  return new HttpProblem({
    status: 413,
    title: 'request body too large',
    detail: `the limit is ${maxBytes} bytes`,
    field: 'body',
  });
}

/**
 * The {@link HttpCall} for a `node:http` request: its body is read on first use, up to `maxBodyBytes`.
 */
export function nodeHttpCall(raw: IncomingMessage, maxBodyBytes: number): HttpCall {
  const target = raw.url ?? '/';
  const q = target.indexOf('?');
  let body: Promise<Buffer> | undefined;
  return {
    method: raw.method ?? 'GET',
    target,
    path: q === -1 ? target : target.slice(0, q),
    metadata: raw.headers,
    timeoutMs: readTimeoutMs(raw.headers),
    body: () => {
      body ??= readBody(raw, maxBodyBytes);
      return body;
    },
    raw,
  };
}

/** Builds the {@link ServerRequest} for a read body. */
export function serverRequest(raw: IncomingMessage, body: Buffer): ServerRequest {
  const url = raw.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return {
    method: raw.method ?? 'GET',
    path,
    query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)),
    headers: raw.headers,
    body,
    raw,
    json: (schema) => parseJson(raw.headers, body, schema),
  };
}

async function parseJson<T>(
  headers: IncomingHttpHeaders,
  body: Buffer,
  schema: StandardSchema<T> | undefined,
): Promise<T> {
  const type = headers['content-type'];
  if (type === undefined || !/^application\/([a-z0-9.+-]+\+)?json\b/i.test(type)) {
    throw new HttpProblem({
      status: 415,
      title: 'unsupported media type',
      detail: 'expected application/json',
      field: 'header:content-type',
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new HttpProblem({
      status: 400,
      title: 'malformed JSON',
      detail: error instanceof SyntaxError ? error.message : 'the body is not valid JSON',
      field: 'body',
    });
  }
  if (schema === undefined) return value as T;
  const result = await schema['~standard'].validate(value);
  if (result.issues === undefined) return result.value;
  const errors = result.issues.map((issue) => ({ field: issuePath(issue), message: issue.message }));
  throw new HttpProblem({
    status: 400,
    title: 'validation failed',
    detail: errors.map((e) => `${e.field}: ${e.message}`).join('; '),
    field: errors[0]?.field ?? '(root)',
    errors,
  });
}
