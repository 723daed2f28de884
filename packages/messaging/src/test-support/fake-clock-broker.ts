import { FakeClock } from '@meshkit/core';
import { memoryBroker } from '../memory-broker.ts';
import { publisher } from '../publisher.ts';

/** A memory broker on a fake clock (1 s visibility timeout) and a publisher to it, for consumer tests. */
export function fakeClockBroker() {
  const clock = new FakeClock();
  const broker = memoryBroker({ clock, visibilityTimeoutMs: 1_000 });
  const events = publisher(broker, { source: '/test', clock });
  return { clock, broker, events };
}
