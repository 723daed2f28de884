import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createContext, FakeClock, InvalidArgumentError } from '@meshkit/core';
import { httpClient } from '@meshkit/http';
import { consume, publisher, settle } from '@meshkit/messaging';
import { sqliteBroker } from '@meshkit/messaging-sqlite';
import { circuitBreaker, constantBackoff } from '@meshkit/policies';
import { type Logger, pino } from 'pino';
import { logs } from './logs.ts';
import { channelsWithSubscribers } from './test-support/channels.ts';
import { countdown, startServer } from './test-support/servers.ts';

/** A pino logger writing into an array of parsed lines. */
function collectingLogger(): { readonly logger: Logger; readonly lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('logs()', () => {
  it('writes nothing for healthy calls, one line when a call fails after its retries, with trace and request ids', async (t) => {
    const { logger, lines } = collectingLogger();
    const logging = logs({ logger });
    t.after(() => logging.close());
    let failing = false;
    const server = await startServer('users', () =>
      failing ? { status: 503, body: 'down' } : { body: 'ok' },
    );
    t.after(() => server.stop());
    const users = httpClient({
      service: 'users',
      endpoints: [server.address],
      policies: { retry: { maxAttempts: 2, backoff: constantBackoff(0) }, breaker: false },
    });
    t.after(() => users.close());

    for (let i = 0; i < 20; i++) await users.get('/ok');
    assert.equal(lines.length, 0, 'no line per healthy call');

    failing = true;
    const ctx = createContext({
      metadata: {
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'x-request-id': 'req-1',
      },
    });
    await assert.rejects(users.get('/users/1', { ctx, route: '/users/:id' }));
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.event, 'call-failed');
    assert.equal(lines[0]!.msg, 'call failed, retries given up');
    assert.equal(lines[0]!.service, 'users');
    assert.equal(lines[0]!.route, '/users/:id');
    assert.equal(lines[0]!.trace_id, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(lines[0]!.request_id, 'req-1');
    assert.equal((lines[0]!.err as { code: string }).code, 'ERR_HTTP_STATUS');
  });

  it('logs a breaker opening and closing, once each', async (t) => {
    const { logger, lines } = collectingLogger();
    const logging = logs({ logger });
    t.after(() => logging.close());
    const clock = new FakeClock();
    const breaker = circuitBreaker<string, string>({
      clock,
      halfOpenAfterMs: 1_000,
      target: { service: 'users', endpoint: 'a' },
    });
    let healthy = false;
    const call = breaker.wrap(async () => {
      if (!healthy) throw new Error('down');
      return 'ok';
    });
    const ctx = createContext({ clock });
    for (let i = 0; i < 8; i++) await call('x', ctx).catch(() => undefined);
    healthy = true;
    await clock.advance(1_000);
    await call('x', ctx);
    assert.deepEqual(
      lines.map((l) => [l.msg, l.service, l.endpoint, l.level]),
      [
        ['circuit opened', 'users', 'a', 40],
        ['circuit closed', 'users', 'a', 30],
      ],
    );
  });

  it('logs a dead-lettered message with its id and reason', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-obs-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { logger, lines } = collectingLogger();
    const logging = logs({ logger });
    t.after(() => logging.close());
    const broker = sqliteBroker({ path: join(dir, 'broker.db') });
    t.after(() => broker.close());
    const consumer = await consume(broker, {
      group: 'mails',
      topics: ['user.created'],
      handler: async () => settle.deadLetter('no such mailbox'),
    });
    t.after(() => consumer.stop());
    const dead = countdown(1);
    const dlq = await consume(broker, {
      group: 'dlq',
      topics: ['dead-letter.mails'],
      handler: async (m) => dead.listener(m),
    });
    t.after(() => dlq.stop());

    const receipt = await publisher(broker, { source: '/test' }).publish('user.created', { id: 1 });
    await dead.done;

    const line = lines.find((l) => l.event === 'dead-letter');
    assert.ok(line, JSON.stringify(lines));
    assert.equal(line.id, receipt.id);
    assert.equal(line.reason, 'handler-rejected');
    assert.equal(line.group, 'mails');
    assert.equal(line.level, 50);
  });

  it('refuses a logger that is not one, and leaves no subscriber behind after close()', () => {
    assert.throws(() => logs({ logger: {} as Logger }), InvalidArgumentError);
    assert.deepEqual(channelsWithSubscribers(), []);
    const logging = logs({ logger: collectingLogger().logger });
    assert.ok(channelsWithSubscribers().length > 0);
    logging.close();
    assert.deepEqual(channelsWithSubscribers(), []);
  });
});
