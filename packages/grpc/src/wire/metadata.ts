import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { InvalidArgumentError, type Metadata } from '@meshkit/core';

// Metadata to send is core's `Metadata`: keys ending in `-bin` carry bytes (sent base64-encoded, as the
// spec says), other keys printable ASCII text; an array sends the key once per value.

/**
 * Metadata received. A text key repeated on the wire arrives joined with `", "` (as HTTP/2 joins
 * repeated headers); a `-bin` key is a `Buffer`, or an array of them when it was repeated.
 */
export type ReceivedMetadata = Readonly<Record<string, string | Buffer | readonly Buffer[]>>;

// Headers that belong to the protocol, never to the application's metadata.
const reserved = new Set([
  'content-type',
  'te',
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
  'grpc-status',
  'grpc-message',
  'content-length',
  'connection',
  'host',
  'accept-encoding',
  'date',
]);
// The grpc- keys an application may send: server pushback and rich error details.
const allowedGrpcKeys = new Set(['grpc-retry-pushback-ms', 'grpc-status-details-bin']);
const validKey = /^[0-9a-z_.-]+$/;
const printable = /^[\x20-\x7e]*$/;

/** `true` for a key an application may send as metadata (not the protocol's, not reserved by gRPC). */
export function sendableKey(key: string): boolean {
  return validKey.test(key) && (!key.startsWith('grpc-') || allowedGrpcKeys.has(key)) && !reserved.has(key);
}

/** Adds `metadata` to `headers` (validating keys and text values). `field` names the option in errors. */
export function writeMetadata(headers: OutgoingHttpHeaders, metadata: Metadata, field: string): void {
  for (const key of Object.keys(metadata)) {
    const value = metadata[key]!;
    if (!validKey.test(key) || (key.startsWith('grpc-') && !allowedGrpcKeys.has(key)) || reserved.has(key)) {
      throw new InvalidArgumentError(
        `${field}.${key}`,
        'must be a lower-case key of 0-9 a-z _ . - not reserved by gRPC',
      );
    }
    const binary = key.endsWith('-bin');
    const values = Array.isArray(value) ? (value as readonly (string | Uint8Array)[]) : [value];
    const encoded = values.map((v) => encodeValue(v as string | Uint8Array, binary, `${field}.${key}`));
    headers[key] = encoded.length === 1 ? encoded[0]! : encoded;
  }
}

/**
 * Adds a context's propagated metadata (`traceparent`, request id, caller-chosen keys) to `headers`,
 * skipping what gRPC reserves or cannot carry (a key an HTTP hop put there, a non-ASCII text value)
 * instead of failing the call for it. Explicit call metadata, written after, wins.
 */
export function writeContextMetadata(
  headers: OutgoingHttpHeaders,
  metadata: Readonly<Record<string, unknown>>,
): void {
  for (const key in metadata) {
    const lower = key.toLowerCase();
    if (
      !validKey.test(lower) ||
      (lower.startsWith('grpc-') && !allowedGrpcKeys.has(lower)) ||
      reserved.has(lower)
    )
      continue;
    const value = metadata[key];
    const values = (Array.isArray(value) ? value : [value]) as unknown[];
    const binary = lower.endsWith('-bin');
    const encoded: string[] = [];
    for (const v of values) {
      if (binary && v instanceof Uint8Array)
        encoded.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'));
      else if (typeof v === 'string' && (binary || printable.test(v)))
        encoded.push(binary ? Buffer.from(v, 'utf8').toString('base64') : v);
    }
    if (encoded.length > 0) headers[lower] = encoded.length === 1 ? encoded[0]! : encoded;
  }
}

function encodeValue(value: string | Uint8Array, binary: boolean, field: string): string {
  if (binary) {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  }
  if (typeof value !== 'string' || !printable.test(value)) {
    throw new InvalidArgumentError(field, 'must be printable ASCII text (use a -bin key for bytes)', value);
  }
  return value;
}

/** The application metadata in received headers or trailers: pseudo and protocol headers left out. */
export function readMetadata(headers: IncomingHttpHeaders): ReceivedMetadata {
  const out: Record<string, string | Buffer | Buffer[]> = {};
  for (const key of Object.keys(headers)) {
    if (key.startsWith(':') || reserved.has(key)) continue;
    const raw = headers[key];
    if (raw === undefined) continue;
    const text = Array.isArray(raw) ? raw.join(', ') : String(raw);
    if (key.endsWith('-bin')) {
      const parts = text.split(',').map((part) => Buffer.from(part.trim(), 'base64'));
      out[key] = parts.length === 1 ? parts[0]! : parts;
    } else {
      out[key] = text;
    }
  }
  return out;
}

/** The text value of `key` (the first one when repeated), or `undefined`. */
export function textValue(headers: IncomingHttpHeaders, key: string): string | undefined {
  const raw = headers[key];
  if (raw === undefined) return undefined;
  return Array.isArray(raw) ? raw[0] : String(raw);
}
