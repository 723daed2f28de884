/**
 * Header names between meshkit and the Kafka wire. CloudEvents' Kafka protocol binding spells the
 * attributes `ce_id`, `ce_source`, ... (underscore), where meshkit's envelope uses the HTTP binding's
 * `ce-id`; `content-type` and every other header pass through unchanged.
 */

/** meshkit header name → Kafka record header name. */
export function toWireName(name: string): string {
  return name.startsWith('ce-') ? `ce_${name.slice(3)}` : name;
}

/** Wire names seen recently and their meshkit spelling: a record's header names repeat on every record. */
const fromWire = new Map<string, string>();

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
