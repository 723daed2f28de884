/**
 * Header names between meshkit and the Kafka wire. CloudEvents' Kafka protocol binding spells the
 * attributes `ce_id`, `ce_source`, ... (underscore), where meshkit's envelope uses the HTTP binding's
 * `ce-id`; `content-type` and every other header pass through unchanged.
 */

/**
 * Names seen recently and their spelling on the other side: a record's header names repeat on every
 * record, and a name built anew each time would be a fresh string for the client to flatten and encode.
 */
const toWire = new Map<string, string>();
const fromWire = new Map<string, string>();

/** meshkit header name → Kafka record header name. */
export function toWireName(name: string): string {
  let known = toWire.get(name);
  if (known === undefined) {
    known = name.startsWith('ce-') ? `ce_${name.slice(3)}` : name;
    if (toWire.size >= 1_024) toWire.clear();
    toWire.set(name, known);
  }
  return known;
}

/** Header names as the bytes written on the wire. */
const nameBytes = new Map<string, Buffer>();
/** Values of the headers that repeat from record to record, as the bytes written on the wire. */
const valueBytes = new Map<string, Buffer>();
/** The headers whose value is usually the same on every record of a producer (not ids, times or keys). */
const repeating = new Set(['ce-specversion', 'ce-source', 'ce-type', 'content-type']);

/**
 * `name` (meshkit's spelling) as the header name's bytes on the wire, encoded once: the Kafka client
 * would otherwise encode every name of every record anew.
 */
export function wireNameBytes(name: string): Buffer {
  let bytes = nameBytes.get(name);
  if (bytes === undefined) {
    bytes = ownBytes(toWireName(name));
    if (nameBytes.size >= 1_024) nameBytes.clear();
    nameBytes.set(name, bytes);
  }
  return bytes;
}

/** The bytes of header `name`'s `value`; a value that repeats on every record is encoded once. */
export function wireValueBytes(name: string, value: string): Buffer {
  if (!repeating.has(name)) return Buffer.from(value);
  let bytes = valueBytes.get(value);
  if (bytes === undefined) {
    bytes = ownBytes(value);
    if (valueBytes.size >= 1_024) valueBytes.clear();
    valueBytes.set(value, bytes);
  }
  return bytes;
}

/** `text` in a buffer of its own: a kept slice of Node's shared pool would keep the whole pool alive. */
function ownBytes(text: string): Buffer {
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  bytes.write(text);
  return bytes;
}

/** The (de)serializer of header bytes the adapter encodes and decodes itself. */
export const asIs = (bytes?: Buffer): Buffer | undefined => bytes;

/** Bytes read off the wire and the text they decode to. */
interface Decoded {
  readonly bytes: Buffer;
  readonly text: string;
}

/** Header names read so far (meshkit's spelling), by byte length: the same few come on every record. */
const namesByLength = new Map<number, Decoded[]>();
let namesKept = 0;
/** Per repeating header (see `repeating`), the last value read. */
const lastValues = new Map<string, Decoded>();

/**
 * A record's header name (its bytes on the wire) in meshkit's spelling. A name seen before is found by
 * comparing bytes, without decoding it into a new string again.
 */
export function headerNameOf(bytes: Buffer): string {
  const candidates = namesByLength.get(bytes.byteLength);
  if (candidates !== undefined) {
    for (const known of candidates) if (known.bytes.equals(bytes)) return known.text;
  }
  const text = fromWireName(bytes.toString());
  // Names are the producers' to choose: keep a bounded number of them.
  if (namesKept >= 256) {
    namesByLength.clear();
    namesKept = 0;
  }
  const decoded = { bytes: copyOf(bytes), text };
  if (candidates === undefined) namesByLength.set(bytes.byteLength, [decoded]);
  else candidates.push(decoded);
  namesKept++;
  return text;
}

/** The value of header `name` (meshkit's spelling); a repeating one equal to the last is not decoded again. */
export function headerValueOf(name: string, bytes: Buffer | null | undefined): string {
  if (bytes === null || bytes === undefined) return '';
  if (!repeating.has(name)) return bytes.toString();
  const last = lastValues.get(name);
  if (last?.bytes.equals(bytes)) return last.text;
  const text = bytes.toString();
  lastValues.set(name, { bytes: copyOf(bytes), text });
  return text;
}

/** A copy of `bytes`: what the client hands out are views of a whole fetch response, kept alive by a view. */
function copyOf(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  bytes.copy(copy);
  return copy;
}

/** Kafka record header name → meshkit header name. */
export function fromWireName(name: string): string {
  let known = fromWire.get(name);
  if (known === undefined) {
    known = name.startsWith('ce_') ? `ce-${name.slice(3)}` : name;
    if (fromWire.size >= 1_024) fromWire.clear();
    fromWire.set(name, known);
  }
  return known;
}

/** Headers added by the adapter on records it moves to the group's retry topic. */
export const retryHeaderNames = {
  /** Epoch milliseconds before which the retried record is not handed out again. */
  due: 'meshkit-retry-due',
  /** The topic the record came from, restored on redelivery. */
  topic: 'meshkit-retry-topic',
} as const;

/** The retry topic of a consumer group: `meshkit-retry.<group>`, with characters Kafka refuses replaced. */
export function retryTopicOf(group: string): string {
  return `meshkit-retry.${group.replace(/[^a-zA-Z0-9._-]/g, '_')}`.slice(0, 249);
}

/**
 * Gives a record written without CloudEvents headers (a plain producer) the attributes the consumer
 * needs, derived from the record so that a redelivery carries the same id. Headers already present win.
 */
export function wrapPlainRecord(
  headers: { [name: string]: string },
  topic: string,
  partition: number,
  offset: bigint,
  timestamp: bigint,
): void {
  if (headers['ce-id'] !== undefined || headers['ce-specversion'] !== undefined) return;
  headers['ce-id'] = `${topic}-${partition}-${offset}`;
  headers['ce-source'] = `/kafka/${topic}`;
  headers['ce-type'] = topic;
  headers['ce-specversion'] = '1.0';
  headers['ce-time'] = new Date(Number(timestamp)).toISOString();
  headers['content-type'] ??= 'application/json';
}
