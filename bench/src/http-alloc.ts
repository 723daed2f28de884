/**
 * Where the `http` benchmark's clients allocate: a fixed driver, not a benchmark. Against the same
 * server child as `http.ts`, it runs undici's `Pool` and meshkit's client (every feature on, as in the
 * benchmark) in alternating slices and reports what `profileAllocations()` measures per request.
 *
 *   node --conditions=@meshkit/source bench/src/http-alloc.ts [--concurrency=64] [--requests=20000]
 *     [--rounds=3] [--sites] [--only=undici-pool|meshkit] [--no-sample]
 */
import { staticRegistry } from '@meshkit/discovery';
import { httpClient } from '@meshkit/http';
import { Pool } from 'undici';
import { profileAllocations } from './alloc-profile.ts';
import { startServer } from './http-server.ts';

const server = await startServer();
const path = '/users/42';
const pool = new Pool(`http://127.0.0.1:${server.port}`);
const registry = staticRegistry({
  instances: [{ id: 'bench-1', service: 'bench', address: '127.0.0.1', port: server.port }],
});
const meshkit = httpClient({
  service: 'bench',
  registry,
  policies: { deadlineMs: 5_000, attemptTimeoutMs: 2_000 },
});
await profileAllocations([
  { name: 'undici-pool', call: async () => (await pool.request({ method: 'GET', path })).body.json() },
  { name: 'meshkit', call: () => meshkit.get(path) },
]);
await pool.close();
await meshkit.close();
await registry.close();
server.stop();
