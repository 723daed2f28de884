/**
 * A producer or consumer process for the crash tests: `node child.ts <json config>`.
 * produce: publishes `count` events in batches, appending each confirmed id to `log` (one per line).
 * consume: handles group `group`, appending each handled id to `log` before the handler returns.
 * Both write `ready` to stdout once running, then work until killed or done.
 */
import { appendFileSync } from 'node:fs';
import { consume, publisher } from '@meshkit/messaging';
import { sqliteBroker } from '../sqlite-broker.ts';

interface Config {
  mode: 'produce' | 'consume';
  path: string;
  topic: string;
  log: string;
  group?: string;
  count?: number;
  prefix?: string;
  visibilityTimeoutMs?: number;
}

const config = JSON.parse(process.argv[2]!) as Config;
const broker = sqliteBroker({ path: config.path, visibilityTimeoutMs: config.visibilityTimeoutMs ?? 30_000 });

if (config.mode === 'produce') {
  const events = publisher(broker, { source: '/child', windowSize: 200, maxBatch: 50 });
  process.stdout.write('ready\n');
  for (let i = 0; i < (config.count ?? 1_000_000); i += 50) {
    const batch = Array.from({ length: 50 }, (_, j) => ({
      topic: config.topic,
      id: `${config.prefix ?? 'p'}-${i + j}`,
      data: i + j,
    }));
    const outcomes = await events.publishBatch(batch);
    const confirmed = outcomes.filter((o) => o.ok).map((o) => o.id);
    if (confirmed.length > 0) appendFileSync(config.log, `${confirmed.join('\n')}\n`);
  }
  await broker.close();
} else {
  await consume(broker, {
    group: config.group!,
    topics: [config.topic],
    concurrency: 4,
    prefetch: 50,
    handler: async (msg) => {
      appendFileSync(config.log, `${msg.id}\n`);
      await new Promise((r) => setTimeout(r, 1));
    },
  });
  process.stdout.write('ready\n');
  setInterval(() => {}, 1_000);
}
