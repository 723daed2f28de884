/**
 * The other process of the cross-process messaging benchmark: consumes group `group` from the SQLite
 * broker at `path` and reports each handled message's publish-to-handler latency (ms, from the
 * wall-clock timestamp in the event) and the time the last expected message arrived, as JSON on stdout.
 */
import { consume } from '@meshkit/messaging';
import { sqliteBroker } from '@meshkit/messaging-sqlite';

const { path, topic, group, expect, durableSettlements } = JSON.parse(process.argv[2]!) as {
  path: string;
  topic: string;
  group: string;
  expect: number;
  durableSettlements: boolean;
};
const broker = sqliteBroker({ path, durableSettlements });
const latencies: number[] = [];
let first = 0;
const consumer = await consume<{ t: number }>(broker, {
  group,
  topics: [topic],
  concurrency: 1,
  prefetch: 1_000,
  handler: async (msg) => {
    const now = performance.timeOrigin + performance.now();
    if (latencies.length === 0) first = now;
    latencies.push(now - msg.data.t);
    if (latencies.length === expect) {
      process.stdout.write(`${JSON.stringify({ latencies, firstAt: first, lastAt: now })}\n`);
      void consumer.stop().then(() => broker.close());
    }
  },
});
process.stdout.write('ready\n');
