import { Readable } from 'node:stream';
import { ErrorCode, MeshError } from '@meshkit/core';
import { issuePath, type StandardSchema } from '../schema.ts';
import type { HttpBody, HttpResponse } from '../types.ts';

const jsonType = /json/i;

/** Encodes a request body: bytes, strings and streams as they are, anything else as JSON. */
export function encodeBody(
  body: unknown,
  headers: Record<string, string>,
): { body: HttpBody | undefined; replayable: boolean } {
  if (body === undefined) return { body: undefined, replayable: true };
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
 */
export async function decodeBody<T>(
  response: HttpResponse,
  schema: StandardSchema<T> | undefined,
): Promise<T> {
  const { headers, body, status } = response;
  const type = headers['content-type'];
  const contentType = Array.isArray(type) ? type[0] : type;
  let value: unknown;
  if (status === 204 || status === 304 || headers['content-length'] === '0') {
    if (response.text === undefined) await body?.dump();
    value = undefined;
  } else if (contentType !== undefined && !jsonType.test(contentType)) {
    value = response.text ?? (await body?.text()) ?? '';
  } else {
    // An empty chunked body reads as "no value", as an empty one with content-length 0 does.
    const text = response.text ?? (await body?.text()) ?? '';
    if (text === '') value = undefined;
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
  }
  if (schema === undefined) return value as T;
  const result = await schema['~standard'].validate(value);
  if (result.issues === undefined) return result.value;
  const issues = result.issues.map((issue) => ({ field: issuePath(issue), message: issue.message }));
  throw new MeshError(
    ErrorCode.INVALID_PAYLOAD,
    `response does not match its schema: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
    { details: { status: response.status, issues, field: issues[0]?.field } },
  );
}
