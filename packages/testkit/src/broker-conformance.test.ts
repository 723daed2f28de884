import { memoryBroker } from '@meshkit/messaging';
import { brokerConformance } from './broker-conformance.ts';

// The in-memory broker: one store, each connect() a separate connection to it.
const store = memoryBroker({ maxMessageBytes: 1_024, visibilityTimeoutMs: 200 });
brokerConformance('memory', async () => store.connect(), {
  oversizeBytes: 2_048,
  crash: (broker) => (broker as ReturnType<typeof memoryBroker>).abandon(),
});
