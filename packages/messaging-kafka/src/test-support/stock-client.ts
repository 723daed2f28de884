/**
 * Apache Kafka's own console producer and consumer (the Java client, from the jars
 * scripts/services/up-kafka.sh fetched), for interoperability tests that involve no meshkit code.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..', '..', '..');
const libs = join(root, '.cache', 'kafka', 'libs');
export const bootstrap = process.env.MESHKIT_KAFKA_BROKER ?? '127.0.0.1:9092';

function java(args: string[], input?: string): Promise<string> {
  if (!existsSync(libs)) throw new Error(`no Kafka jars in ${libs}: run scripts/services/up-kafka.sh`);
  return new Promise((resolve, reject) => {
    const child = execFile(
      'java',
      ['-Xmx256m', '-cp', join(libs, '*'), ...args],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${args[0]} failed: ${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Produces `key|value` lines (headers `h1:v1,h2:v2|key|value` when `withHeaders`), acks=all, lz4. */
export async function stockProduce(
  topic: string,
  lines: readonly string[],
  withHeaders = false,
): Promise<void> {
  await java(
    [
      'org.apache.kafka.tools.ConsoleProducer',
      '--bootstrap-server',
      bootstrap,
      '--topic',
      topic,
      '--compression-codec',
      'lz4',
      '--command-property',
      'acks=all',
      '--reader-property',
      'parse.key=true',
      '--reader-property',
      'key.separator=|',
      '--reader-property',
      `parse.headers=${withHeaders}`,
      '--reader-property',
      'headers.delimiter=|',
    ],
    `${lines.join('\n')}\n`,
  );
}

/** One record as the stock console consumer prints it. */
export interface StockRecord {
  readonly partition: number;
  readonly offset: number;
  readonly headers: Record<string, string>;
  readonly key: string;
  readonly value: string;
}

/** Reads `count` records of one partition from `offset` with the stock console consumer. */
export async function stockConsume(
  topic: string,
  partition: number,
  offset: number,
  count: number,
): Promise<StockRecord[]> {
  const out = await java([
    'org.apache.kafka.tools.consumer.ConsoleConsumer',
    '--bootstrap-server',
    bootstrap,
    '--topic',
    topic,
    '--partition',
    String(partition),
    '--offset',
    String(offset),
    '--max-messages',
    String(count),
    '--timeout-ms',
    '30000',
    '--formatter-property',
    'print.key=true',
    '--formatter-property',
    'print.headers=true',
    '--formatter-property',
    'print.partition=true',
    '--formatter-property',
    'print.offset=true',
    '--formatter-property',
    'headers.separator=;',
  ]);
  return out
    .split('\n')
    .filter((line) => line.startsWith('Partition:'))
    .map((line) => {
      const [p, o, h, key, ...value] = line.split('\t');
      const headers: Record<string, string> = {};
      if (h !== 'NO_HEADERS') {
        for (const pair of (h ?? '').split(';')) {
          const cut = pair.indexOf(':');
          headers[pair.slice(0, cut)] = pair.slice(cut + 1);
        }
      }
      return {
        partition: Number(p!.slice('Partition:'.length)),
        offset: Number(o!.slice('Offset:'.length)),
        headers,
        key: key ?? '',
        value: value.join('\t'),
      };
    });
}

/** The partition the Java client's default partitioner picks for `key` (read back from a produced record). */
export function parsePosition(position: string | undefined): { partition: number; offset: number } {
  const parts = (position ?? '').split('/');
  return { partition: Number(parts.at(-2)), offset: Number(parts.at(-1)) };
}
