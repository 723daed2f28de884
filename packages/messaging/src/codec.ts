import { Buffer } from 'node:buffer';
import { ErrorCode, MeshError } from '@meshkit/core';

/**
 * Payload codecs and schema checks. JSON is the default; a schema is any Standard Schema
 * (https://standardschema.dev: zod 3.24+, valibot, arktype, ...), checked on publish and on receive.
 */

/** Turns data into bytes and back. `decode` throws on bytes it cannot read. */
export interface Codec {
  /** The `content-type` written on the wire, e.g. `application/json`. */
  readonly contentType: string;
  encode(data: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The default codec: UTF-8 JSON. `undefined` data is refused on encode since JSON cannot carry it.
 *
 * @example
 * ```ts
 * jsonCodec.decode(jsonCodec.encode({ id: 1 })); // { id: 1 }
 * ```
 */
export const jsonCodec: Codec = {
  contentType: 'application/json',
  encode(data) {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError('cannot encode undefined as JSON');
    // A Buffer (a Uint8Array) cut from Node's shared pool: TextEncoder allocates an ArrayBuffer per
    // message, about twice the cost on the publish path, and adapters then wrap it in a Buffer anyway.
    return Buffer.from(text, 'utf8');
  },
  decode(bytes) {
    return JSON.parse(decoder.decode(bytes));
  },
};

/** The Standard Schema v1 interface (copied as the spec intends, so no runtime dependency). */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (
      value: unknown,
    ) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** A Standard Schema validation result. */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | {
      readonly issues: ReadonlyArray<{
        readonly message: string;
        readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
      }>;
    };

/**
 * Validates `value` against `schema`; returns the (possibly transformed) output or throws an
 * `ERR_INVALID_PAYLOAD` {@link MeshError} listing the issues.
 */
export async function validate<T>(schema: StandardSchemaV1<unknown, T>, value: unknown): Promise<T> {
  const result = await schema['~standard'].validate(value);
  if (result.issues === undefined) return result.value;
  const text = result.issues
    .slice(0, 5)
    .map((issue) => {
      const path = (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
      return path.length > 0 ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
  throw new MeshError(ErrorCode.INVALID_PAYLOAD, `payload does not match its schema: ${text}`, {
    details: { issues: result.issues },
  });
}
