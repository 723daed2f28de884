/**
 * Where observing allocates in the HTTP client: a fixed driver, not a benchmark. `httpClient` against
 * the `http` scenario's server child, with no subscriber (`off`), `metrics()`, and `metrics()` plus
 * `tracing()` (every call sampled, batched to an exporter that drops the spans), in alternating
 * slices; reports what `profileAllocations()` measures per request.
 *
 *   node --conditions=@meshkit/source bench/src/observability-alloc.ts [--concurrency=64]
 *     [--requests=20000] [--rounds=3] [--sites] [--only=off|metrics|metrics+tracing] [--no-sample]
 */
import { staticRegistry } from '@meshkit/discovery';
import { httpClient } from '@meshkit/http';
import { metrics, tracing } from '@meshkit/observability';
import { AlwaysOnSampler, type SpanExporter } from '@opentelemetry/sdk-trace';
import { profileAllocations } from './alloc-profile.ts';
import { startServer } from './http-server.ts';

const server = await startServer();
const registry = staticRegistry({
  instances: [{ id: 'bench-1', service: 'bench', address: '127.0.0.1', port: server.port }],
});
const client = httpClient({
  service: 'bench',
  registry,
  policies: { deadlineMs: 5_000, attemptTimeoutMs: 2_000 },
});
const discard: SpanExporter = { export: (_s, done) => done({ code: 0 }), shutdown: async () => {} };
let failures = 0;
/** A failed call (the breaker opens when the loaded machine stalls the server) is counted, not thrown. */
const call = () =>
  client.get('/users/42').catch(() => {
    failures++;
  });
// Each case subscribes its observers around its slice, as the `observability` benchmark does.
await profileAllocations([
  { name: 'off', call },
  {
    name: 'metrics',
    call,
    around: () => {
      const m = metrics();
      return async () => m.close();
    },
  },
  {
    name: 'metrics+tracing',
    call,
    around: () => {
      const m = metrics();
      const t = tracing({ exporter: discard, sampler: new AlwaysOnSampler() });
      return async () => {
        m.close();
        await t.close();
      };
    },
  },
]);
if (failures > 0) console.log(`${failures} calls failed`);
await client.close();
await registry.close();
server.stop();
