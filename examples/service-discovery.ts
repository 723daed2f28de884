/**
 * Discovery and balancing end to end, on one machine with no setup:
 *
 *   node --conditions=@meshkit/source examples/service-discovery.ts
 *
 * Three `echo` instances (one of them 10× slower) start HTTP servers on 127.0.0.1 and register in the
 * embedded registry (a SQLite file in a temp folder). A client balances over them with P2C + peak EWMA,
 * fed by a registry watch, with active HTTP health checks and outlier detection. Then the fast instance
 * `echo-1` crashes: its server stops answering while its registration lingers. The health checks and
 * outlier detection take it out before its TTL would. The example prints where the calls went in each
 * phase and exits non-zero if the balancer did not behave as described.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { balance, balanceChannels, p2cPeakEwma } from '@meshkit/balance';
import { type CallContext, createContext, type Endpoint, MeshError } from '@meshkit/core';
import { embeddedRegistry, endpointSets, httpProbe } from '@meshkit/discovery';

const dir = mkdtempSync(join(tmpdir(), 'meshkit-example-'));
const registry = embeddedRegistry({ path: join(dir, 'registry.db'), ttlMs: 5_000 });

/** One echo instance: answers `/` after `delayMs`, `/healthz` at once. */
async function startEcho(id: string, delayMs: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/healthz') return void res.end('ok');
    setTimeout(() => res.end(id), delayMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await registry.register({ id, service: 'echo', address: '127.0.0.1', port, version: 'v1' });
  return server;
}

/** A minimal HTTP transport that reports failures the way the balancer reads them. */
function httpGet(endpoint: Endpoint) {
  return (_req: string, ctx: CallContext) =>
    new Promise<string>((resolve, reject) => {
      const [host, port] = endpoint.address.split(':');
      const req = request({ host, port: Number(port), path: '/', signal: ctx.signal }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 500) reject(new MeshError('ERR_HTTP_STATUS', `${status}`, { details: { status } }));
          else resolve(body);
        });
      });
      req.on('error', (err) => reject(new MeshError('ERR_CONNECT', err.message, { cause: err })));
      req.end();
    });
}

async function phase(name: string, calls: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let failed = 0;
  // Four calls at a time: enough concurrency for in-flight counts to matter, little enough that latency
  // decides (P2C trades one for the other: with many calls in flight, the slow instance gets more).
  for (let i = 0; i < calls; i += 4) {
    await Promise.all(
      Array.from({ length: 4 }, () =>
        echo('hi', createContext({ timeoutMs: 2_000 })).then(
          (id) => counts.set(id, (counts.get(id) ?? 0) + 1),
          () => failed++,
        ),
      ),
    );
  }
  const shares = [...counts].sort().map(([id, n]) => `${id} ${((100 * n) / calls).toFixed(0)}%`);
  console.log(`${name}: ${shares.join(', ')}${failed > 0 ? `, ${failed} failed` : ''}`);
  return counts;
}

const servers = [await startEcho('echo-1', 5), await startEcho('echo-2', 5), await startEcho('echo-3', 50)];
balanceChannels.ejected.subscribe((e) =>
  console.log(`  outlier detection ejected ${e.endpoint} (${e.reason})`),
);
balanceChannels.healthChanged.subscribe((e) =>
  console.log(`  health check: ${e.endpoint} is ${e.healthy ? 'healthy' : 'unhealthy'}`),
);

const echo = balance({
  service: 'echo',
  endpoints: endpointSets(registry, 'echo'),
  connect: httpGet,
  picker: p2cPeakEwma(),
  healthCheck: {
    probe: httpProbe({ path: '/healthz' }),
    intervalMs: 200,
    timeoutMs: 100,
    unhealthyThreshold: 2,
  },
  outlierDetection: { consecutiveLocalOriginFailure: 3 },
});

let ok = true;
const before = await phase('three instances, echo-3 10x slower', 300);
const slow = before.get('echo-3') ?? 0;
if (slow >= (before.get('echo-1') ?? 0) || slow >= (before.get('echo-2') ?? 0)) {
  console.error('expected the slow instance to get the smallest share');
  ok = false;
}

// echo-1 crashes: connections are refused, but its registration lives until its TTL.
servers[0]!.closeAllConnections();
servers[0]!.close();
await new Promise((resolve) => setTimeout(resolve, 600));
const after = await phase('echo-1 crashed', 300);
if ((after.get('echo-1') ?? 0) > 0) {
  console.error('expected no call to reach the crashed instance');
  ok = false;
}
console.log(
  'endpoints:',
  echo
    .describe()
    .endpoints.map(
      (e) => `${e.id} ${e.readiness}${e.ejected ? ' (ejected)' : ''}${e.healthy ? '' : ' (unhealthy)'}`,
    )
    .join(', '),
);

await echo.close();
for (const s of servers.slice(1)) s.close();
await registry.close();
rmSync(dir, { recursive: true, force: true });
process.exitCode = ok ? 0 : 1;
