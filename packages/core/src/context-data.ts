/**
 * The data a call context carries besides its deadline and cancellation: typed extension slots, the
 * call's kind, and the metadata it sends downstream.
 */

/** A typed slot for extensions; create one with {@link contextKey}. */
export interface ContextKey<T> {
  readonly name: string;
  readonly defaultValue: T | undefined;
}

/**
 * Creates a typed extension slot.
 *
 * @example
 * ```ts
 * const tenant = contextKey<string>('tenant');
 * const ctx = createContext().set(tenant, 'acme');
 * ctx.get(tenant); // 'acme'
 * ```
 */
export function contextKey<T>(name: string, defaultValue?: T): ContextKey<T> {
  return Object.freeze({ name, defaultValue });
}

/**
 * The shape of a call (gRPC's four kinds): one request and one response, a stream of responses, a stream
 * of requests, or both. Retry and hedge replay only what can be sent again, and only before the first
 * response; see {@link CallContext.kind}.
 */
export type CallKind = 'unary' | 'server-stream' | 'client-stream' | 'bidi';

/**
 * One metadata value: text, or bytes for a binary key (gRPC's `-bin` suffix, sent base64-encoded); an
 * array for a key that repeats.
 */
export type MetadataValue = string | Uint8Array | readonly (string | Uint8Array)[];

/** Headers / metadata a call carries downstream: lower-case names to values. */
export type Metadata = Readonly<Record<string, MetadataValue>>;

/** The first text value of `name` in `metadata` (the first of a repeated key), if any. */
export function metadataText(metadata: Metadata | undefined, name: string): string | undefined {
  const value = metadata?.[name];
  if (value === undefined || typeof value === 'string') return value;
  if (value instanceof Uint8Array) return undefined;
  const first = (value as readonly (string | Uint8Array)[])[0];
  return typeof first === 'string' ? first : undefined;
}

/**
 * `over` merged over `base`: `over` itself when it already has every name `base` has (nothing to copy,
 * the common case of a `traceparent` replaced hop by hop), else a merged copy.
 */
export function mergeMetadata(base: Metadata, over: Metadata): Metadata {
  for (const name in base) {
    if (!Object.hasOwn(over, name)) return { ...base, ...over };
  }
  return over;
}

/** One link of a context's immutable list of extension values. */
export interface Slot {
  readonly key: ContextKey<unknown>;
  readonly value: unknown;
  readonly next: Slot | undefined;
}
