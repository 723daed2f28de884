import { Readable } from 'node:stream';
import { ErrorCode, MeshError } from '@meshkit/core';
import { issuePath, type SchemaResult, type StandardSchema } from '../schema.ts';
import type { HttpBody, HttpResponse } from '../types.ts';

const jsonType = /json/i;

/** A request body as sent: the encoded body and whether a retry may send it again. */
export interface EncodedBody {
  readonly body: HttpBody | undefined;
  readonly replayable: boolean;
}

/** The encoding of "no body", shared by every call without one. */
const noBody: EncodedBody = Object.freeze({ body: undefined, replayable: true });

/** Encodes a request body: bytes, strings and streams as they are, anything else as JSON. */
export function encodeBody(body: unknown, headers: Record<string, string>): EncodedBody {
  if (body === undefined) return noBody;
  if (typeof body === 'string') {
    headers['content-type'] ??= 'text/plain; charset=utf-8';
    return { body, replayable: true };
  }
  if (body instanceof Uint8Array) {
    headers['content-type'] ??= 'application/octet-stream';
    return { body, replayable: true };
  }
  if (body instanceof Readable) {
    headers['content-type'] ??= 'application/octet-stream';
    // A stream is consumed by the first attempt; it cannot be sent again.
    return { body, replayable: false };
  }
  headers['content-type'] ??= 'application/json';
  return { body: JSON.stringify(body), replayable: true };
}

/**
 * Reads a response: JSON when the content type says so (validated by `schema` when given), nothing for
 * an empty body, text otherwise. A body that is not valid JSON, or fails the schema, is `ERR_INVALID_PAYLOAD`.
 * A buffered response with a synchronous schema (or none) decodes without another promise.
 */
export function decodeBody<T>(response: HttpResponse, schema: StandardSchema<T> | undefined): T | Promise<T> {
  const { headers, status } = response;
  const empty = status === 204 || status === 304 || headers['content-length'] === '0';
  if (response.text === undefined && response.body !== undefined) {
    const body = response.body;
    const read = empty ? body.dump().then(() => '') : body.text();
    return read.then((text) => decodeText({ ...response, text }, schema));
  }
  return decodeText(response, schema);
}

function decodeText<T>(response: HttpResponse, schema: StandardSchema<T> | undefined): T | Promise<T> {
  const { headers, status } = response;
  const text = response.text ?? '';
  const type = headers['content-type'];
  const contentType = Array.isArray(type) ? type[0] : type;
  let value: unknown;
  // An empty body reads as "no value", with or without content-length 0.
  if (text === '' || status === 204 || status === 304) value = undefined;
  else if (contentType !== undefined && !jsonType.test(contentType)) value = text;
  else {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new MeshError(ErrorCode.INVALID_PAYLOAD, 'response body is not valid JSON', {
        cause: error,
        details: { status, excerpt: text.slice(0, 200) },
      });
    }
  }
  if (schema === undefined) return value as T;
  const result = schema['~standard'].validate(value);
  return result instanceof Promise ? result.then((r) => checked(r, status)) : checked(result, status);
}

function checked<T>(result: SchemaResult<T>, status: number): T {
  if (result.issues === undefined) return result.value;
  const issues = result.issues.map((issue) => ({ field: issuePath(issue), message: issue.message }));
  throw new MeshError(
    ErrorCode.INVALID_PAYLOAD,
    `response does not match its schema: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
    { details: { status, issues, field: issues[0]?.field } },
  );
}
