/**
 * A consumer process for the crash test: joins `group` on `topic`, prints `ready`, then one line per
 * handled message id; after `limit` messages its handler never returns (the parent then kills it -9).
 * Usage: node doomed-member.ts <group> <topic> <limit>
 */
import { consume } from '@meshkit/messaging';
import { kafkaBroker } from '../kafka-broker.ts';
import { bootstrap } from './stock-client.ts';

const [group = '', topic = '', limit = '0'] = process.argv.slice(2);
const broker = kafkaBroker({ brokers: [bootstrap], sessionTimeoutMs: 6_000 });
let handled = 0;
await consume(broker, {
  group,
  topics: [topic],
  concurrency: 4,
  prefetch: 50,
  handler: async (msg) => {
    if (handled >= Number(limit)) return new Promise<void>(() => {});
    handled++;
    process.stdout.write(`handled ${msg.id}\n`);
  },
});
process.stdout.write('ready\n');
