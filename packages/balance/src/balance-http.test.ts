import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type CallContext, createContext, type Endpoint, FakeClock, MeshError } from '@meshkit/core';
import { balance } from './balance.ts';
import { roundRobin } from './pickers/basic.ts';

/**
 * The balancer over real loopback HTTP servers: a minimal transport reports failures the documented way
 * (`ERR_CONNECT` when no connection, `ERR_HTTP_STATUS` with `details.status` for a 5xx), and outlier
 * detection ejects the endpoints that deserve it.
 */
function httpGet(endpoint: Endpoint) {
  return (_req: string, ctx: CallContext) =>
    new Promise<string>((resolve, reject) => {
      const [host, port] = endpoint.address.split(':');
      const req = request({ host, port: Number(port), path: '/', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 500) {
            reject(
              new MeshError('ERR_HTTP_STATUS', `${status} from ${endpoint.address}`, { details: { status } }),
            );
          } else resolve(body);
        });
      });
      req.on('error', (err) => reject(new MeshError('ERR_CONNECT', err.message, { cause: err })));
      if (ctx.endpoint?.id !== endpoint.id) reject(new Error('ctx.endpoint was not set'));
      req.end();
    });
}

async function listen(status: number, body: string): Promise<{ server: Server; address: string }> {
  const server = createServer((_req, res) => {
    res.statusCode = status;
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('balance over real HTTP endpoints', () => {
  const servers: Server[] = [];
  let healthy: string;
  let broken: string;
  let refusing: string;
  before(async () => {
    const a = await listen(200, 'a');
    const b = await listen(503, 'b');
    const c = await listen(200, 'c');
    servers.push(a.server, b.server);
    healthy = a.address;
    broken = b.address;
    c.server.close(); // its port now refuses connections
    await once(c.server, 'close');
    refusing = c.address;
  });
  after(() => {
    for (const s of servers) s.close();
  });

  it('ejects the endpoint answering 503 and the one refusing connections; the rest serve every call', async () => {
    const clock = new FakeClock();
    const svc = balance({
      service: 'web',
      endpoints: [
        { id: 'healthy', address: healthy },
        { id: 'broken', address: broken },
        { id: 'refusing', address: refusing },
      ],
      connect: httpGet,
      picker: roundRobin(),
      clock,
      panicThresholdPercent: 0,
      outlierDetection: {
        consecutiveGatewayFailure: 3,
        consecutiveLocalOriginFailure: 3,
        maxEjectionPercent: 100,
      },
    });
    const ctx = createContext({ clock });
    const failures: string[] = [];
    for (let i = 0; i < 9; i++) {
      await svc('GET /', ctx).catch((err: MeshError) => failures.push(err.code));
    }
    assert.deepEqual(failures.sort(), [
      'ERR_CONNECT',
      'ERR_CONNECT',
      'ERR_CONNECT',
      'ERR_HTTP_STATUS',
      'ERR_HTTP_STATUS',
      'ERR_HTTP_STATUS',
    ]);
    const state = Object.fromEntries(svc.describe().endpoints.map((e) => [e.id, e.ejected]));
    assert.deepEqual(state, { healthy: false, broken: true, refusing: true });
    for (let i = 0; i < 10; i++) assert.equal(await svc('GET /', ctx), 'a');
    await svc.close();
  });
});
