import { randomUUID } from 'node:crypto';
import { checkPattern, type Delivery, headerNames } from '@meshkit/messaging';
import { openBroker } from '../open.ts';
import { type CliIo, cliConfig, type MeshFlags } from './io.ts';

/** Options of `meshkit events tail`. */
export interface TailFlags extends MeshFlags {
  /** Stop after this many events. */
  readonly count?: number;
  readonly json?: boolean;
}

const decoder = new TextDecoder();

/**
 * `meshkit events tail <pattern...>`: prints the events published on the mesh's broker from now on whose
 * topic matches a pattern, until interrupted (or `--count` events). It reads with a throwaway group that
 * starts at the newest message and is deleted on the way out (where the broker can delete groups).
 */
export async function eventsTail(io: CliIo, flags: TailFlags, patterns: readonly string[]): Promise<number> {
  for (const [i, p] of patterns.entries()) checkPattern(`pattern[${i}]`, p);
  const opened = await openBroker(cliConfig(io, flags, { routes: false }));
  if (opened === undefined) return 1;
  const broker = opened.value;
  const group = `meshkit-tail-${randomUUID().slice(0, 8)}`;
  let seen = 0;
  let enough!: () => void;
  const done = new Promise<void>((resolve) => {
    enough = resolve;
  });
  const onDelivery = (delivery: Delivery): void => {
    if (flags.count !== undefined && seen >= flags.count) {
      void delivery.release();
      return;
    }
    seen++;
    io.stdout.write(`${flags.json === true ? jsonLine(delivery) : textLine(delivery)}\n`);
    void delivery.ack();
    if (flags.count !== undefined && seen >= flags.count) enough();
  };
  try {
    const subscription = await broker.subscribe({ group, patterns, prefetch: 64, onDelivery });
    try {
      io.stderr.write(`tailing ${patterns.join(' ')} on ${broker.name} (group ${group}); Ctrl-C to stop\n`);
      await Promise.race([done, io.interrupted]);
    } finally {
      await subscription.close();
      await broker.deleteGroup?.(group);
    }
    return 0;
  } finally {
    await opened.close?.();
  }
}

function textLine(d: Delivery): string {
  const h = d.headers;
  const key = d.key === undefined ? '' : ` key=${d.key}`;
  return `${h[headerNames.time] ?? new Date().toISOString()} ${d.topic}${key} id=${h[headerNames.id] ?? '-'} ${decoder.decode(d.body)}`;
}

function jsonLine(d: Delivery): string {
  const text = decoder.decode(d.body);
  let data: unknown = text;
  try {
    data = JSON.parse(text);
  } catch {}
  return JSON.stringify({ topic: d.topic, key: d.key, position: d.position, headers: d.headers, data });
}
