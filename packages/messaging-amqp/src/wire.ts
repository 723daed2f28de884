import type { BrokerRecord } from '@meshkit/messaging';
import { headerNames } from '@meshkit/messaging';
import type { MessageProperties, Options } from 'amqplib';

/**
 * The AMQP 0-9-1 wire form of a record, fixed by the seed: persistent (delivery mode 2), the codec's
 * `content_type` property, the body untouched, `message_id` = the CloudEvents id and `timestamp` set
 * (POSIX seconds, as AMQP defines it). CloudEvents attributes travel as `cloudEvents:<name>` headers
 * (the CloudEvents AMQP binding's prefix) and the record key as `cloudEvents:partitionkey` (the
 * partitioning extension); meshkit's own headers (`traceparent`, `meshkit-deadline`, ...) keep their
 * names. A consumer written with a stock client therefore sees a plain JSON body and the usual
 * properties, and reads the extras from the headers table if it cares.
 */

const cePrefix = 'ce-';
const amqpPrefix = 'cloudEvents:';
/** The other prefix the CloudEvents AMQP binding allows (for clients that dislike `:`). */
const amqpPrefixAlt = 'cloudEvents_';
const partitionKeyHeader = 'cloudEvents:partitionkey';
/** Where a message re-published to a retry queue remembers the topic it was first published to. */
export const topicHeader = 'x-meshkit-topic';

/** Headers RabbitMQ adds on its own, not part of the message as published. */
function isBrokerHeader(name: string): boolean {
  return (
    name === 'x-death' ||
    name === 'x-delivery-count' ||
    name.startsWith('x-first-death-') ||
    name.startsWith('x-last-death-')
  );
}

/** `cloudEvents:<name>` of the `ce-<name>` headers seen, made once: the same few names come on every record. */
const amqpNames = new Map<string, string>();

function amqpName(name: string): string {
  let mapped = amqpNames.get(name);
  if (mapped === undefined) {
    mapped = amqpPrefix + name.slice(cePrefix.length);
    // Extension attributes are the sender's to name: remember a bounded number of them.
    if (amqpNames.size < 256) amqpNames.set(name, mapped);
  }
  return mapped;
}

/** The port's spelling of the AMQP header names seen (`cloudEvents:Id` -> `ce-id`), made once. */
const portNames = new Map<string, string>();

function portName(name: string): string {
  let mapped = portNames.get(name);
  if (mapped === undefined) {
    if (name.startsWith(amqpPrefix)) mapped = cePrefix + name.slice(amqpPrefix.length).toLowerCase();
    else if (name.startsWith(amqpPrefixAlt))
      mapped = cePrefix + name.slice(amqpPrefixAlt.length).toLowerCase();
    else mapped = name.toLowerCase();
    // Header names are the senders' to choose: remember a bounded number of them.
    if (portNames.size < 256) portNames.set(name, mapped);
  }
  return mapped;
}

/** The last `ce-time` read and its value: a publisher stamps many records with the same millisecond. */
let lastTime = '';
let lastTimeMs = Number.NaN;

/** Epoch ms of an RFC 3339 time, `NaN` when it is not one. */
function parseTime(time: string): number {
  if (time !== lastTime) {
    lastTime = time;
    lastTimeMs = Date.parse(time);
  }
  return lastTimeMs;
}

/** The AMQP publish options of a record. */
export function toAmqp(record: BrokerRecord, now: number, mandatory: boolean): Options.Publish {
  const headers: Record<string, string> = {};
  const from = record.headers;
  let contentType: string | undefined;
  for (const name in from) {
    const value = from[name]!;
    if (name === headerNames.contentType) contentType = value;
    else if (name.startsWith(cePrefix)) headers[amqpName(name)] = value;
    else headers[name] = value;
  }
  if (record.key !== undefined) headers[partitionKeyHeader] = record.key;
  const time = from[headerNames.time];
  const parsed = time === undefined ? Number.NaN : parseTime(time);
  const options: Options.Publish = {
    persistent: true,
    mandatory,
    timestamp: Math.floor((Number.isFinite(parsed) ? parsed : now) / 1_000),
    headers,
  };
  if (contentType !== undefined) options.contentType = contentType;
  const id = from[headerNames.id];
  if (id !== undefined) options.messageId = id;
  return options;
}

/** What a delivery reads back: topic, key and lower-case string headers in the port's spelling. */
export interface FromAmqp {
  readonly topic: string;
  readonly key: string | undefined;
  readonly headers: Record<string, string>;
  /** Deliveries of this message so far, this one included, where the queue counts them (quorum). */
  readonly deliveryCount: number | undefined;
}

/**
 * Reads an AMQP message into the port's terms. A message from a producer that knows nothing of
 * CloudEvents (the seed's `pika` producer) gets its attributes from the AMQP properties: `id` from
 * `message_id`, `type` from `type` or the routing key, `source` from `app_id` or the exchange, `time`
 * from `timestamp` (seconds, or milliseconds as the seed writes them). A message without `message_id`
 * stays without an id and is dead-lettered as undecodable by the consumer, since it cannot be deduplicated.
 */
export function fromAmqp(routingKey: string, exchange: string, properties: MessageProperties): FromAmqp {
  const headers: Record<string, string> = {};
  let topic = routingKey;
  let key: string | undefined;
  let deliveryCount: number | undefined;
  const table = properties.headers;
  for (const name in table) {
    const raw = table[name];
    if (name === 'x-delivery-count') {
      const n = Number(raw);
      if (Number.isInteger(n) && n >= 0) deliveryCount = n + 1;
      continue;
    }
    if (isBrokerHeader(name)) continue;
    const value = headerText(raw);
    if (value === undefined) continue;
    if (name === topicHeader) topic = value;
    else if (name === partitionKeyHeader) key = value;
    else headers[portName(name)] = value;
  }
  if (typeof properties.contentType === 'string') headers[headerNames.contentType] = properties.contentType;
  if (headers[headerNames.id] === undefined && typeof properties.messageId === 'string') {
    headers[headerNames.id] = properties.messageId;
    headers[headerNames.specVersion] ??= '1.0';
    headers[headerNames.type] ??= typeof properties.type === 'string' ? properties.type : topic;
    headers[headerNames.source] ??=
      typeof properties.appId === 'string' && properties.appId !== ''
        ? properties.appId
        : `/amqp/${exchange}`;
    const time = timestampMs(properties.timestamp);
    if (time !== undefined) headers[headerNames.time] ??= new Date(time).toISOString();
  }
  return { topic, key, headers, deliveryCount };
}

/** AMQP timestamps are POSIX seconds; the seed writes milliseconds. Values past year 5138 in seconds are ms. */
function timestampMs(value: unknown): number | undefined {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) return undefined;
  return n > 1e11 ? n : n * 1_000;
}

function headerText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}
