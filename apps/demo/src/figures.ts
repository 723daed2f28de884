/**
 * What the demo reads from the running system for its report: the gateway's own metrics (attempts and
 * calls, breaker transitions), the notifier's record of what it delivered, and an audit group of its own
 * on the broker that counts every `user.*` event and every dead letter of the notifier's group.
 */
import { randomUUID } from 'node:crypto';
import { type Exposition, parseExposition } from '@meshkit/dashboard';
import type { Consumer, Message } from '@meshkit/messaging';
import type { Mesh } from 'meshkit';

/** Sums the samples of `name` whose labels include `match`. */
export function total(
  exposition: Exposition,
  name: string,
  match: Readonly<Record<string, string>> = {},
): number {
  let sum = 0;
  for (const sample of exposition.samples) {
    if (sample.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => sample.labels[k] === v)) sum += sample.value;
  }
  return sum;
}

/** The gateway's attempts, logical calls and breaker trips towards `service`, from its `/metrics`. */
export async function gatewayFigures(
  gatewayUrl: string,
  service: string,
): Promise<{ attempts: number; calls: number; breakerTrips: number } | undefined> {
  try {
    const response = await fetch(new URL('/metrics', gatewayUrl), { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) return undefined;
    const metrics = parseExposition(await response.text());
    return {
      attempts: total(metrics, 'meshkit_client_attempts_total', { service }),
      calls: total(metrics, 'meshkit_client_calls_total', { service }),
      breakerTrips: total(metrics, 'meshkit_circuit_breaker_transitions_total', { service, to: 'open' }),
    };
  } catch {
    return undefined;
  }
}

/** How many notifications the notifier recorded in all. */
export async function notificationsRecorded(notifierUrl: string): Promise<number> {
  const response = await fetch(new URL('/notifications?limit=1', notifierUrl), {
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`notifier answered ${response.status}`);
  const body = (await response.json()) as { total?: unknown };
  if (typeof body.total !== 'number') throw new Error('notifier did not report a total');
  return body.total;
}

/** Counts distinct events on the broker: every `user.*` event, and the notifier group's dead letters. */
export class EventAudit {
  readonly published = new Set<string>();
  readonly deadLettered = new Set<string>();
  #consumers: Consumer[] = [];
  #mesh: Mesh | undefined;
  /** Groups of this run only, removed at the end: a broker keeps a durable group's queue or offsets. */
  readonly #groups = [`demo-audit-${randomUUID()}`, `demo-audit-dead-letters-${randomUUID()}`] as const;

  /**
   * Joins the audit groups; call before any event is published. `events` are the user events' topics or
   * patterns (`user.*` on the `events` exchange and the embedded broker, `user-events` on Kafka).
   */
  async start(mesh: Mesh, events: readonly string[], deadLetterTopic: string): Promise<void> {
    this.#mesh = mesh;
    const count = (into: Set<string>) => async (message: Message<unknown>) => {
      into.add(message.id);
    };
    const options = { codec: rawCodec, concurrency: 8, prefetch: 200 } as const;
    this.#consumers.push(
      await mesh.subscribe({
        ...options,
        group: this.#groups[0],
        patterns: events,
        handler: count(this.published),
      }),
      await mesh.subscribe({
        ...options,
        group: this.#groups[1],
        topics: [deadLetterTopic],
        handler: count(this.deadLettered),
      }),
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.#consumers.map((c) => c.stop()));
    this.#consumers = [];
    const broker = this.#mesh?.broker;
    if (broker?.deleteGroup !== undefined) {
      for (const group of this.#groups) await broker.deleteGroup(group).catch(() => {});
    }
  }
}

/** Leaves bodies as bytes: the audit counts ids, and must count a malformed body too. */
const rawCodec = {
  contentType: 'application/octet-stream',
  encode: (value: unknown) => value as Uint8Array,
  decode: (bytes: Uint8Array) => bytes,
};
