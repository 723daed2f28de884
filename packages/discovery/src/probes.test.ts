import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { isMeshError } from '@meshkit/core';
import { httpProbe, probeFor, tcpProbe } from './probes.ts';

const servers: { close(): unknown }[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<string> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port that was open a moment ago and is now closed: connections are refused. */
async function closedPort(): Promise<string> {
  const s = createTcpServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const address = `127.0.0.1:${(s.address() as AddressInfo).port}`;
  s.close();
  await once(s, 'close');
  return address;
}

describe('httpProbe', () => {
  it('passes on the expected status and fails on another, naming it', async () => {
    let status = 200;
    const address = await listen(
      createHttpServer((req, res) => {
        res.statusCode = req.url === '/healthz' ? status : 404;
        res.end('ok');
      }),
    );
    const signal = new AbortController().signal;
    await httpProbe()({ address }, signal);
    status = 503;
    await assert.rejects(httpProbe()({ address }, signal), (err: unknown) => {
      assert.ok(isMeshError(err));
      assert.equal(err.details.status, 503);
      return /answered 503/.test(err.message);
    });
    await httpProbe({ expectedStatus: 503 })({ address }, signal);
    await assert.rejects(httpProbe({ path: '/other' })({ address }, signal), /answered 404/);
  });

  it('fails with ERR_CONNECT when nothing listens, and with the abort reason when aborted', async () => {
    await assert.rejects(
      httpProbe()({ address: await closedPort() }, new AbortController().signal),
      (err: unknown) => (isMeshError(err) ? err.code === 'ERR_CONNECT' : false),
    );
    const hang = await listen(createHttpServer(() => {}));
    const controller = new AbortController();
    const probing = httpProbe()({ address: hang }, controller.signal);
    const reason = new Error('probe timeout');
    controller.abort(reason);
    await assert.rejects(probing, (err) => err === reason);
  });

  it('validates its options', () => {
    assert.throws(() => httpProbe({ path: 'healthz' }), /httpProbe\.path must start with "\/"/);
    assert.throws(
      () => httpProbe({ expectedStatus: 700 }),
      /httpProbe\.expectedStatus must be an integer between 100 and 599/,
    );
  });
});

describe('tcpProbe', () => {
  it('passes when a connection opens and fails when refused', async () => {
    const address = await listen(createTcpServer((socket) => socket.destroy()));
    const signal = new AbortController().signal;
    await tcpProbe()({ address }, signal);
    await assert.rejects(tcpProbe()({ address: await closedPort() }, signal), /ECONNREFUSED/);
  });
});

describe('probeFor', () => {
  it('builds probes for http, tcp and grpc specs; ttl checks have none', () => {
    assert.equal(typeof probeFor({ type: 'http', path: '/h' }), 'function');
    assert.equal(typeof probeFor({ type: 'tcp' }), 'function');
    assert.equal(typeof probeFor({ type: 'grpc' }), 'function');
    assert.equal(probeFor({ type: 'ttl' }), undefined);
    assert.equal(probeFor(undefined), undefined);
  });
});
