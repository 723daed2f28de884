import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { describe, it } from 'node:test';
import { FakeClock } from '@meshkit/core';
import { SseHub, type SseHubOptions } from './sse-hub.ts';

async function serve(options: SseHubOptions): Promise<{ hub: SseHub; server: Server; url: string }> {
  const hub = new SseHub(options);
  const server = createServer((req, res) => hub.accept(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { hub, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

async function open(url: string): Promise<IncomingMessage> {
  const req = get(url);
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  return res;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Reads events from `res` until one whose data is `last`; returns the ids seen. */
async function readUntil(res: IncomingMessage, last: string): Promise<number[]> {
  const ids: number[] = [];
  let text = '';
  for await (const chunk of res) {
    text += chunk.toString();
    let end = text.indexOf('\n\n');
    while (end >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const id = /^id: (\d+)$/m.exec(block);
      if (id) ids.push(Number(id[1]));
      if (block.includes(`data: ${last}`)) return ids;
      end = text.indexOf('\n\n');
    }
  }
  return ids;
}

describe('SseHub', () => {
  it('sends the latest event on connect, then every event', async (t) => {
    const { hub, server, url } = await serve({});
    t.after(() => {
      hub.close();
      server.close();
    });
    hub.publish('snapshot', '"first"');
    const res = await open(url);
    assert.equal(res.headers['content-type'], 'text/event-stream');
    hub.publish('snapshot', '"second"');
    assert.deepEqual(await readUntil(res, '"second"'), [1, 2]);
    res.destroy();
  });

  it('keeps a slow client to the latest event: memory stays bounded and it skips what it missed', async (t) => {
    const maxBufferedBytes = 64 << 10;
    const { hub, server, url } = await serve({ maxBufferedBytes });
    t.after(() => {
      hub.close();
      server.close();
    });
    const res = await open(url);
    res.pause(); // reads nothing: the socket fills up
    const big = JSON.stringify('x'.repeat(100_000));
    const published = 300; // 30 MB in all
    let peak = 0;
    for (let i = 0; i < published; i++) {
      hub.publish('snapshot', big);
      peak = Math.max(peak, hub.bufferedBytes);
    }
    hub.publish('snapshot', '"last"');
    // Never more than one event beyond the limit sits in the process, however many were published.
    assert.ok(peak < maxBufferedBytes + 2 * big.length, `peak ${peak}`);
    res.resume();
    const ids = await readUntil(res, '"last"');
    assert.equal(ids.at(-1), published + 1);
    assert.ok(ids.length < published, `it skipped events (saw ${ids.length})`);
    res.destroy();
  });

  it('disconnects a client that stays behind past stallTimeoutMs, and forgets closed clients', async (t) => {
    const clock = new FakeClock();
    const { hub, server, url } = await serve({ maxBufferedBytes: 1024, stallTimeoutMs: 5_000, clock });
    t.after(() => {
      hub.close();
      server.close();
    });
    const leaving = await open(url);
    await until(() => hub.size === 1);
    leaving.destroy();
    await until(() => hub.size === 0);

    // A client that sends its request and never reads a byte.
    const { port } = server.address() as AddressInfo;
    const stalled = connect(port, '127.0.0.1');
    stalled.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    t.after(() => stalled.destroy());
    await until(() => hub.size === 1);
    const big = JSON.stringify('y'.repeat(200_000));
    // Publish once a second (of the fake clock) until the hub gives up on it; the kernel's buffers
    // take a few MB first, so this ends after a bounded number of rounds.
    let rounds = 0;
    while (hub.size > 0 && rounds < 500) {
      hub.publish('snapshot', big);
      await clock.advance(1_000);
      await new Promise((resolve) => setImmediate(resolve));
      rounds++;
    }
    assert.equal(hub.size, 0, `still connected after ${rounds} rounds`);
  });

  it('refuses streams past maxClients with 503', async (t) => {
    const { hub, server, url } = await serve({ maxClients: 1 });
    t.after(() => {
      hub.close();
      server.close();
    });
    const first = await open(url);
    const second = await open(url);
    assert.equal(second.statusCode, 503);
    second.resume();
    first.destroy();
  });
});
